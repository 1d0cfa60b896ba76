"""Option types shared by the subcommands (Annotated, so every command spells them alike).

Nothing here imports torch: `flowrestore --help` has to stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

# Values are plain strings checked by the library, so that a wrong one is a one-line error with
# exit code 1 like every other user error. flowrestore.tasks imports no torch.
from flowrestore.tasks import TASKS  # noqa: E402

# The same names as flowrestore.devices.CHOICES, flowrestore.benchmark.METHODS and EXPERIMENTS, and
# flowrestore.flow.glow.PRESETS, spelled here because those modules import torch (a test keeps
# them equal). They go into --help and shell completion; the library still checks every value.
DEVICES = ("auto", "cpu", "cuda")
METHODS = (
    "measurement", "adjoint", "tv", "nlm", "bm3d", "wiener", "richardson-lucy", "biharmonic", "glow-map",
    "resnet", "resnet-pretrained", "unet", "unet-pretrained", "pnp", "glow", "glow-est",
    "glow-aware", "glow-aware-est", "glow-blur-aware",
)
EXPERIMENTS = ("table1", "table2", "table3", "table4", "denoise-sweep", "denoise-low", "deblur-sweep")
PRESETS = ("compact", "paper", "tiny")


def completer(choices: tuple[str, ...]):
    """Shell completion of an option whose values the library checks (so a wrong one exits 1)."""
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


TaskOption = Annotated[
    Optional[str],
    typer.Option("--task", "-t", metavar="[" + "|".join(TASKS) + "]", autocompletion=completer(TASKS),
                 help="Restoration task. Default: the checkpoint's task."),
]
CheckpointOption = Annotated[
    Optional[str],
    typer.Option(
        "--checkpoint",
        "-c",
        help="Registry NAME, a .safetensors PATH, or hf://owner/repo/file.safetensors@revision. "
        "Default: glow-<task>.",
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option("--device", autocompletion=completer(DEVICES),
                 help="cpu, cuda, cuda:N, or auto (CUDA if available; says which it chose)."),
]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per solver call.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Base seed of the simulated noise in --degrade mode.")]
ForceOption = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs (never inputs).")]
OutputOption = Annotated[
    Optional[Path],
    typer.Option(
        "--output",
        "-o",
        help="Output FILE (one input) or DIR. Default: next to each input, as <name>_restored.<ext>.",
    ),
]
BlurKernelOption = Annotated[
    Optional[int],
    typer.Option(
        "--blur-kernel",
        help="Deblurring: kernel side in pixels, odd, at most 121 (the paper's 5), or 0 for 2*ceil(3*sigma_b)+1.",
    ),
]
BlurBoundaryOption = Annotated[
    Optional[str],
    typer.Option(
        "--blur-boundary",
        help="Deblurring: zero (the paper's: zero padding of the centred image) or periodic.",
    ),
]
MethodOption = Annotated[
    Optional[list[str]],
    typer.Option("--method", autocompletion=completer(METHODS),
                 help="only this method (repeatable): " + ", ".join(METHODS)),
]
ExperimentOption = Annotated[
    Optional[str],
    typer.Option("--experiment", autocompletion=completer(EXPERIMENTS), show_default="table4 for anime, else table1",
                 help="the paper's experiment: " + ", ".join(EXPERIMENTS)),
]
PresetOption = Annotated[
    str,
    typer.Option("--preset", metavar="[" + "|".join(PRESETS) + "]", autocompletion=completer(PRESETS),
                 help="GLOW size."),
]
