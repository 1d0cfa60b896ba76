"""The options of `flowrestore restore` that no other command has (shared ones: cli/options.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

SigmaOption = Annotated[
    Optional[float],
    typer.Option(
        "--sigma", "-s",
        help="Noise std on the [0, 1] pixel scale. Steers a noise-aware model (estimated from each "
        "image when omitted) and sets the simulated noise of --degrade.",
    ),
]
MaskOption = Annotated[
    Optional[Path],
    typer.Option("--mask", "-m", help="Inpainting mask of the images' size: white = known, black = fill; "
                 "or 'alpha': each image's transparent pixels are the ones to fill."),
]
BoxOption = Annotated[
    Optional[int], typer.Option("--box", help="Inpainting: side of the centred missing box (no --mask).")
]
NARROW_HOLES = ("biharmonic", "model")  # flowrestore.restore.NARROW_HOLES, spelled here without importing torch
NarrowHolesOption = Annotated[
    Optional[str],
    typer.Option("--narrow-holes", metavar="[" + "|".join(NARROW_HOLES) + "]",
                 autocompletion=lambda incomplete: [c for c in NARROW_HOLES if c.startswith(incomplete)],
                 help="Inpainting: who fills holes narrower than 11 pixels (scratches, small spots): biharmonic "
                 "interpolation, better there (the default), or the model."),
]
BlurSigmaOption = Annotated[
    Optional[float], typer.Option("--blur-sigma", help="Deblurring: Gaussian blur std in pixels.")
]
SkipExistingOption = Annotated[
    bool,
    typer.Option("--skip-existing", help="Leave out the inputs whose result exists (resume a stopped run)."),
]
DegradeOption = Annotated[
    bool, typer.Option("--degrade", help="Treat inputs as clean: measure, restore, print PSNR/SSIM against them.")
]
CompareOption = Annotated[
    bool, typer.Option("--compare", help="Also write <name>_compare.png: measurement | restored [| reference].")
]
TileOption = Annotated[
    int, typer.Option("--tile", help="Images larger than this many pixels a side are restored in overlapping tiles.")
]
TilePadOption = Annotated[
    Optional[int],
    typer.Option(
        "--tile-pad",
        help="Pixels of context along each inner side of a tile, left out of the blend "
        "(default: 48; for deblurring 48 plus three kernel radii).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the summary (and --degrade's scores) as one JSON document on stdout.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")]
FacesOption = Annotated[
    bool, typer.Option("--faces", help="Find the faces (OpenCV) and restore each at the prior's framing too.")
]
AlignedOption = Annotated[
    bool, typer.Option("--aligned", help="Each image is one face framed like the training faces: restore it at 64x64.")
]
OnlyFacesOption = Annotated[
    bool, typer.Option("--only-faces", help="With --faces: leave everything outside the faces as it was.")
]
ShowFacesOption = Annotated[
    bool, typer.Option("--show-faces", help="With --faces: also write <name>_faces.png with the faces' frames.")
]
