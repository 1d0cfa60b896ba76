"""The real download path, end to end, against a small Hub on 127.0.0.1.

The server answers the Hub's file-resolve endpoint, /{repo_id}/resolve/{revision}/{filename},
to HEAD and GET with the headers huggingface_hub relies on (ETag, X-Repo-Commit,
Content-Length; X-Error-Code on a 404), and records every request. HF_ENDPOINT and HF_HOME
point at it and at a temporary folder; flowrestore reads them at call time.
"""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cli_fixtures import sha256, write_registry
from typer.testing import CliRunner

from flowrestore.checkpoints import resolve
from flowrestore.cli import app
from flowrestore.errors import ChecksumError, HubError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "flowrestore/test-models"


class FakeHub:
    def __init__(self):
        self.files: dict[tuple[str, str], bytes] = {}  # (repo_id, filename) -> content
        self.requests: list[tuple[str, str]] = []  # (method, path)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._answer(self, body=False)

            def do_GET(self):
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def gets(self, filename: str) -> int:
        return sum(1 for method, path in self.requests if method == "GET" and path.endswith(filename))

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((handler.command, handler.path))
        owner, name, resolve_word, _revision, *rest = handler.path.lstrip("/").split("/")
        repo_id, filename = f"{owner}/{name}", "/".join(rest)
        if resolve_word != "resolve" or not any(r == repo_id for r, _ in self.files):
            return self._error(handler, "RepoNotFound")
        if (repo_id, filename) not in self.files:
            return self._error(handler, "EntryNotFound")
        content = self.files[repo_id, filename]
        handler.send_response(200)
        handler.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("Content-Length", str(len(content)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def _error(self, handler: BaseHTTPRequestHandler, code: str) -> None:
        handler.send_response(404)
        handler.send_header("X-Error-Code", code)
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub()
    fake.thread.start()
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def published(hub, tmp_path, checkpoint_dir):
    """The tiny denoiser published on the fake hub, and a registry entry that points at it."""
    weights = checkpoint_dir / "tiny-denoise.safetensors"
    hub.files[REPO, "models/denoise.safetensors"] = weights.read_bytes()
    entry = {
        "name": "hub-denoise",
        "kind": "solver",
        "task": {"task": "denoise", "noise_sigma": 0.2},
        "hub": {"repo_id": REPO, "filename": "models/denoise.safetensors", "revision": "main"},
        "sha256": sha256(weights),
    }
    return write_registry(tmp_path / "registry.toml", [entry]), weights


def test_a_registry_entry_downloads_into_the_hf_cache(hub, published, tmp_path):
    registry, weights = published
    path = resolve("hub-denoise", task="denoise", registry=registry)
    assert path.read_bytes() == weights.read_bytes()
    assert (tmp_path / "hf-home" / "hub") in path.parents
    assert ("HEAD", f"/{REPO}/resolve/main/models/denoise.safetensors") in hub.requests
    assert hub.gets("denoise.safetensors") == 1


def test_the_second_call_is_a_cache_hit_without_any_request(hub, published):
    registry, _ = published
    first = resolve("hub-denoise", registry=registry)
    seen = len(hub.requests)
    assert resolve("hub-denoise", registry=registry) == first
    assert len(hub.requests) == seen and hub.gets("denoise.safetensors") == 1


def test_offline_mode_uses_the_cache(hub, published, monkeypatch):
    registry, weights = published
    resolve("hub-denoise", registry=registry)
    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve("hub-denoise", registry=registry).read_bytes() == weights.read_bytes()
    assert len(hub.requests) == seen


def test_offline_mode_without_the_cache_fails_cleanly(hub, published, monkeypatch):
    registry, _ = published
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="not in the Hugging Face cache .* HF_HUB_OFFLINE is set"):
        resolve("hub-denoise", registry=registry)
    assert hub.requests == []


def test_a_tampered_file_on_the_hub_is_rejected(hub, published):
    registry, weights = published
    hub.files[REPO, "models/denoise.safetensors"] = weights.read_bytes()[:-1] + b"!"
    with pytest.raises(ChecksumError, match=r"models/denoise.safetensors does not match the registry's sha256"):
        resolve("hub-denoise", registry=registry)


def test_a_damaged_cached_copy_is_downloaded_afresh(hub, published):
    registry, weights = published
    path = resolve("hub-denoise", registry=registry)
    path.resolve().write_bytes(b"damaged")
    assert resolve("hub-denoise", registry=registry).read_bytes() == weights.read_bytes()
    assert hub.gets("denoise.safetensors") == 2


def test_a_missing_file_is_reported(hub, published):
    with pytest.raises(HubError, match=f"models/other.safetensors not found in {REPO}@main"):
        resolve(f"hf://{REPO}/models/other.safetensors")


def test_a_missing_repository_is_reported(hub, published):
    with pytest.raises(HubError, match="repository someone/nothing not found at http://127.0.0.1"):
        resolve("hf://someone/nothing/model.safetensors")


def test_hf_addresses_download_without_a_registry_hash(hub, published):
    _, weights = published
    path = resolve(f"hf://{REPO}/models/denoise.safetensors@main")
    assert path.read_bytes() == weights.read_bytes()


def test_cli_download_prints_the_cached_path(hub, published):
    registry, weights = published
    result = CliRunner().invoke(app, ["--registry", str(registry), "checkpoints", "download", "hub-denoise"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("denoise.safetensors")
    assert hub.gets("denoise.safetensors") == 1


def test_cli_restores_with_a_hub_checkpoint(hub, published, tmp_path):
    from cli_fixtures import rgb_array, write_image

    image = write_image(tmp_path / "face.png", rgb_array(8, 8))
    result = CliRunner().invoke(
        app, ["restore", str(image), "--checkpoint", f"hf://{REPO}/models/denoise.safetensors", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "face_restored.png").is_file()


@pytest.fixture
def silent_endpoint(monkeypatch, tmp_path):
    """A listener on 127.0.0.1 that accepts connections (the kernel does) and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield listener
    listener.close()


def test_an_endpoint_that_never_answers_fails_within_the_timeout(silent_endpoint, monkeypatch, capfd):
    import time

    monkeypatch.setenv("FLOWRESTORE_HUB_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(HubError, match=r"could not reach http://127.0.0.1:\d+ .*no answer within 1 s"):
        resolve(f"hf://{REPO}/models/denoise.safetensors")
    assert time.monotonic() - started < 5
    assert "Retrying" not in capfd.readouterr().err


def test_a_refused_connection_is_one_quick_error_without_retry_lines(monkeypatch, tmp_path, capfd):
    import socket
    import time

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(HubError, match=rf"could not reach http://127.0.0.1:{port} .*refused"):
        resolve(f"hf://{REPO}/models/denoise.safetensors")
    assert time.monotonic() - started < 5
    assert "Retrying" not in capfd.readouterr().err


def test_not_found_reads_differently_from_unreachable(hub, published):
    with pytest.raises(HubError, match=r"not found in .* \(HTTP 404\)") as missing:
        resolve(f"hf://{REPO}/models/other.safetensors")
    assert "could not reach" not in str(missing.value)


def test_the_timeout_is_at_most_ten_seconds_by_default_and_configurable(monkeypatch):
    from flowrestore.hub import HubSettings

    monkeypatch.delenv("FLOWRESTORE_HUB_TIMEOUT", raising=False)
    assert HubSettings.from_environment().timeout <= 10
    monkeypatch.setenv("FLOWRESTORE_HUB_TIMEOUT", "2.5")
    assert HubSettings.from_environment().timeout == 2.5
    monkeypatch.setenv("FLOWRESTORE_HUB_TIMEOUT", "soon")
    with pytest.raises(HubError, match="FLOWRESTORE_HUB_TIMEOUT"):
        HubSettings.from_environment()
