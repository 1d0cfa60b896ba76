"""Published mean PSNRs (dB) to print beside ours (the numbers of Wei et al. and Asim et al.).

Wei et al. report Tables I-IV and a denoising sweep (conference version); Asim et al. report
GLOW MAP and BM3D on 12 CelebA-HQ images. The authors' data splits are not ours, so these are
anchors to approach, not numbers to reproduce exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrestore.operators import TaskSpec

WEI = "Wei et al."
ASIM = "Asim et al."


@dataclass(frozen=True)
class Reference:
    domain: str  # "celeba" (CelebA-HQ) or "anime"
    task: str
    value: float  # noise sigma (denoise), mask box (inpaint) or blur sigma (deblur)
    method: str  # a benchmark method name
    psnr: float
    source: str


def setting_value(spec: TaskSpec) -> float:
    """The one number that tells a task's settings apart in the published tables."""
    return {"denoise": spec.noise_sigma, "inpaint": float(spec.box), "deblur": spec.blur_sigma}[spec.task]


def _rows(domain: str, source: str, columns: tuple, table: dict[str, tuple]) -> list[Reference]:
    out = []
    for method, values in table.items():
        for (task, value), psnr in zip(columns, values):
            if psnr is not None:
                out.append(Reference(domain, task, value, method, psnr, source))
    return out


TABLE1 = (("denoise", 0.2), ("inpaint", 19.0), ("deblur", 5.0))
TABLE3 = (("denoise", 0.25), ("inpaint", 16.0), ("deblur", 8.0))
SWEEP = tuple(("denoise", s) for s in (0.10, 0.15, 0.20, 0.25))

REFERENCES: tuple[Reference, ...] = tuple(
    _rows("celeba", f"{WEI} Table I", TABLE1, {
        "resnet": (27.054, 34.010, 35.554),
        "resnet-pretrained": (None, 33.216, 35.703),
        "unet": (28.180, 35.157, 38.662),
        "unet-pretrained": (None, 35.337, 38.046),
        "glow": (28.236, 35.927, 40.549),
    })
    + _rows("celeba", f"{WEI} Table II", TABLE1, {"pnp": (8.112, 18.960, 23.141)})
    + _rows("celeba", f"{WEI} Table III", TABLE3, {
        "resnet": (25.489, 34.644, 35.358),
        "unet": (25.770, 35.917, 38.034),
        "glow": (26.633, 36.634, 39.461),
    })
    + _rows("anime", f"{WEI} Table IV", TABLE1, {
        "resnet": (21.746, 23.705, 25.007),
        "unet": (22.587, 24.015, 26.224),
        "glow": (22.102, 23.472, 27.419),
    })
    + _rows("celeba", f"{WEI} (conference) sweep", SWEEP, {
        "resnet": (28.567, 28.029, None, None),  # 0.20 and 0.25 repeat Tables I and III
        "unet": (29.228, 28.920, None, None),
        "glow": (29.423, 29.009, None, None),
    })
    + _rows("celeba", f"{ASIM} (12 images)", (("denoise", 0.1), ("denoise", 0.2), ("inpaint", 19.0)), {
        "glow-map": (30.48, 27.09, 34.88),
        "bm3d": (29.93, 25.16, None),
    })
)


def lookup(domain: str | None, spec: TaskSpec, method: str) -> Reference | None:
    """The published number for this method at this setting on this domain, if there is one."""
    if spec.task != "denoise" and spec.noise_sigma:
        return None  # the published inpainting and deblurring runs are noise-free
    if spec.task == "deblur" and (spec.kernel_size, spec.blur_boundary) != (5, "zero"):
        return None  # the paper blurs with a 5x5 kernel and zero padding (docs/method.md)
    value = setting_value(spec)
    for ref in REFERENCES:
        if ref.domain == domain and ref.task == spec.task and ref.method == method and abs(ref.value - value) < 1e-9:
            return ref
    return None
