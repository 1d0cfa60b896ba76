import pytest
import torch


@pytest.fixture
def float64():
    """Run a test in float64 and restore the default dtype afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(items):
    # The tests marked slow (the shipped checkpoints' full benchmarks) take most of the suite's time:
    # they run first, so that with one process per core (pytest-xdist) the short tests fill the others.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config):
    # Tiny tensors gain nothing from intra-op threads, and spinning threads on a busy
    # 2-core machine make every small convolution slow.
    torch.set_num_threads(1)


# The tiny checkpoints and the one-thread guard, for every test module (tests/cli_fixtures.py).
from cli_fixtures import checkpoint_dir, one_thread  # noqa: E402, F401
