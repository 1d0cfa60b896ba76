"""flowrestore: image restoration by deep unfolding with normalizing-flow priors."""

__version__ = "0.1.0"

# The Python API; imported lazily so that `flowrestore --help` does not pay for torch.
_LAZY = {
    "pretrain": "flowrestore.training",
    "finetune": "flowrestore.training",
    "PretrainConfig": "flowrestore.training",
    "FinetuneConfig": "flowrestore.training",
    "LoopConfig": "flowrestore.training",
    "TaskSpec": "flowrestore.operators",
    "Glow": "flowrestore.flow",
    "UnrolledSolver": "flowrestore.solver",
    "load_model": "flowrestore.serialization",
    "save_model": "flowrestore.serialization",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flowrestore' has no attribute {name!r}")
