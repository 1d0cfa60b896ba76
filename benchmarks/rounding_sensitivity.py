"""Which layers make a shipped solver intolerant of int8 kernels (docs/training.md, "Weight storage").

    PYTHONPATH=. python3 benchmarks/rounding_sensitivity.py --names glow-denoise glow-denoise-aware --limit 16

For each solver, the convolution kernels `flowrestore.quantization` would store as int8 are rounded
(per output channel, as stored) in one group of layers at a time, the rest kept as shipped, and the
restorations of the first --limit validation faces are compared with the unrounded model's by the
export's own test (`flowrestore.shipping.storage.agreement`, PSNR in dB between the two restorations;
the export demands 45 dB). Groups: every kernel; all but the coupling networks' last (zero-initialised)
convolutions; all but their first 3x3 convolutions; all but their hidden 1x1 convolutions; the last
convolutions alone. Prints a markdown table. (A file already stored as int8 reads back unchanged: inf.)
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.checkpoints import load, load_registry
from flowrestore.operators import TaskSpec
from flowrestore.quantization import dequantize, output_convolution, quantize
from flowrestore.shipping.storage import AGREEMENT_DB, agreement

ROOT = Path(__file__).resolve().parents[1]


def _last(name: str, t: torch.Tensor) -> bool:
    return output_convolution(name)  # the zero-initialised output convolution of a coupling network


def _first(name: str, t: torch.Tensor) -> bool:
    return name.endswith(".net.0.weight")


def _hidden(name: str, t: torch.Tensor) -> bool:
    return t.dim() == 4 and t.shape[-1] == 1 and not _last(name, t)


GROUPS = {
    "every kernel": lambda n, t: True,
    "all but the last convolutions": lambda n, t: not _last(n, t),
    "all but the first 3x3 convolutions": lambda n, t: not _first(n, t),
    "all but the hidden 1x1 convolutions": lambda n, t: not _hidden(n, t),
    "the last convolutions alone": _last,
}


def rounded(model: torch.nn.Module, keep) -> torch.nn.Module:
    """A copy of `model` with the kernels that `keep` selects stored as int8 and read back."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    back = dequantize(quantize({k: v for k, v in state.items() if keep(k, v)}))
    out = copy.deepcopy(model)
    out.load_state_dict({**state, **{k: v.to(state[k].dtype) for k, v in back.items()}})
    return out.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".data" / "val")
    parser.add_argument("--names", nargs="+", default=["glow-denoise", "glow-denoise-aware"])
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry(ROOT / "flowrestore" / "checkpoints.toml")
    images = load_images(args.data, args.limit).images
    print(f"agreement with the unrounded restorations, dB ({images.shape[0]} faces of {args.data}; "
          f"the export stores int8 at {AGREEMENT_DB:.0f} dB or more)\n")
    print("| solver | " + " | ".join(GROUPS) + " |")
    print("|---|" + "---|" * len(GROUPS))
    for name in args.names:
        model = load(name).model.float().eval()
        task = TaskSpec.default(registry[name].task_name)
        cells = [f"{agreement(model, rounded(model, keep), task, images):.1f}" for keep in GROUPS.values()]
        print(f"| {name} ({registry[name].sha256[:8]}…) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
