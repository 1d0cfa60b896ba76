"""What to tell the user about a checkpoint before restoring: the operator it was trained for,
and the noise level it restores at. Returned as "note: ..." / "warning: ..." lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowrestore.operators import TaskSpec
from flowrestore.solving import counts_storage, noise_conditioned, sigma_floor

NOISE_AWARE = "glow-denoise-aware"  # the registry's noise-conditioned denoiser
# Beyond these distances from a fixed denoiser's level, the noise-aware model restores better (validation sweep,
# docs/results/denoise-sweep.md: the noise-aware 9f449a97... against the default 97f3a9a8..., both with the
# flip ensemble: +0.81 dB at 0.15, +0.21 at 0.25 and up to +7.1 dB at 0.05; but -0.21 at 0.20, the
# differences crossing near 0.190 and 0.225; the test sweep agrees). Rounded outward to 0.010 and 0.025: the
# level is estimated from each image with 2-5 % error, and a face at the model's own level (estimated at 0.19)
# should not be told to switch.
BELOW_TRAINED, ABOVE_TRAINED = 0.010, 0.025


def far_from_trained(sigma: float, trained: float) -> bool:
    """Whether the noise-aware model restores noise of `sigma` better than a model fixed at `trained`."""
    return sigma < trained - BELOW_TRAINED or sigma > trained + ABOVE_TRAINED


if TYPE_CHECKING:
    from flowrestore.restore_files import RestoreOptions


def model_notes(loaded, name: str, spec: TaskSpec, options: RestoreOptions) -> list[str]:
    """What to tell the user about the checkpoint before restoring: its operator and noise level."""
    trained = loaded.metadata.get("task")
    notes = []
    if trained:
        warning = operator_warning(TaskSpec.from_dict(trained), spec, name, loaded.metadata.get("blur_range"))
        notes += [warning] if warning else []
    if options.mask is not None and spec.task == "inpaint" and not (loaded.metadata.get("training") or {}).get("box_jitter"):
        notes.append(f"warning: {name} was trained on one hole only, the paper's centre box of a 64x64 face; "
                     "other holes restore poorly (docs/results/inpaint-position.md)")
    return notes + sigma_notes(loaded, name, spec, options.sigma, options.degrade)


def mask_notes(mask, mask_name: str, narrow_holes: str = "biharmonic") -> list[str]:
    """A note when an inpainting mask leaves nothing to fill, or nothing to go on, or has holes too
    narrow for the model (flowrestore.narrow_holes), saying who fills those (`narrow_holes`)."""
    kind = holes(mask)
    if kind == "none":
        return [f"note: the mask {mask_name} is all white (every pixel known): there is nothing to fill"]
    if kind == "all":
        return [f"warning: the mask {mask_name} is all black (every pixel missing): the results come from the "
                "prior alone, not from the images"]
    narrow, total = narrow_pixels(mask)
    return [f"note: the mask {mask_name} {narrow_note(narrow, total, narrow_holes)}"] if narrow else []


def box_notes(spec: TaskSpec, narrow_holes: str) -> list[str]:
    """A note when the centred inpainting box (no mask) is narrower than the model's blocks."""
    from flowrestore.narrow_holes import WIDTH

    if spec.box >= WIDTH:
        return []
    return [f"note: the {spec.box}x{spec.box} box is narrower than {WIDTH} pixels: {narrow_fill(narrow_holes, True)}"]


def holes(mask) -> str | None:
    """What an inpainting mask (H, W; 1 = known) leaves to fill: "none", "all", or None for anything else."""
    if bool(mask.min() > 0.5):
        return "none"
    if bool(mask.max() < 0.5):
        return "all"
    return None


def narrow_pixels(mask) -> tuple[int, int]:
    """How many hole pixels of `mask` (H, W; 1 = known) are narrow (flowrestore.narrow_holes), of how many."""
    from flowrestore.narrow_holes import narrow_part

    return int(narrow_part(mask).sum()), int((mask < 0.5).sum())


def narrow_note(narrow: int, total: int, narrow_holes: str) -> str:
    """What happens to `narrow` of `total` hole pixels that are narrow, under --narrow-holes."""
    from flowrestore.narrow_holes import WIDTH

    which = f"all {total} hole pixels" if narrow == total else f"{narrow} of {total} hole pixels"
    return (f"has holes narrower than {WIDTH} pixels, such as scratches or small spots ({which}): "
            + narrow_fill(narrow_holes, narrow == total))


def narrow_fill(narrow_holes: str, only_narrow: bool) -> str:
    """Who fills the narrow holes, under --narrow-holes, and what that is worth."""
    if narrow_holes == "model":
        return ("left to the model (--narrow-holes model), which was trained on blocks; biharmonic interpolation "
                "restores scratches 2-4 dB better (docs/results/inpaint-position.md)")
    return ("filled by biharmonic interpolation from the pixels around them, which restores scratches 2-4 dB "
            f"better than the model{'; the model is not run' if only_narrow else ''} "
            "(docs/results/inpaint-position.md; --narrow-holes model leaves them to the model)")


def operator_warning(trained: TaskSpec | None, spec: TaskSpec, name: str,
                     blur_range: tuple[float, float] | None = None) -> str | None:
    """A note when the measurement operator differs from the one the checkpoint was trained for; a
    blur-conditioned deblurrer (`blur_range`) was trained for every sigma_b in its range."""
    if trained is None or spec.task != trained.task:
        return f"note: {name} was trained for {trained.label() if trained else 'an unrecorded task'}, not {spec.label()}"
    if blur_range is not None and spec.task == "deblur":
        low, high = blur_range
        if (spec.kernel_size, spec.blur_boundary) != (trained.kernel_size, trained.blur_boundary):
            return (f"warning: {name} was trained for a {trained.kernel_size}x{trained.kernel_size} "
                    f"{trained.blur_boundary}-boundary blur; restoring {spec.label()} is outside its training")
        if not low <= spec.blur_sigma <= high:
            return f"warning: {name} was trained for blur sigma_b {low:g} to {high:g}; {spec.blur_sigma:g} is outside"
        return None
    if not spec.same_operator(trained):
        return f"warning: {name} was trained for {trained.label()}; restoring {spec.label()} is outside its training"
    return None


def sigma_notes(loaded, name: str, spec: TaskSpec, sigma: float | None, degrade: bool) -> list[str]:
    """What to tell the user about the noise level before restoring."""
    if spec.task != "denoise" and not noise_conditioned(loaded.model):
        return []
    if noise_conditioned(loaded.model):
        low, high = loaded.metadata.get("sigma_range", (None, None))
        low = 0.0 if counts_storage(loaded.model) and low is not None else low  # noise-free is trained too
        floor = sigma_floor(loaded.model)
        if sigma is not None and low is not None and sigma < floor:
            return [f"warning: {name} was trained for noise sigma {low:g} to {high:g}; {sigma:g} is below, so its "
                    f"folds run at {floor:g} (below its range they break down)"]
        if sigma is not None and low is not None and not low <= sigma <= high:
            return [f"warning: {name} was trained for noise sigma {low:g} to {high:g}; {sigma:g} is outside"]
        return []
    trained = (loaded.metadata.get("task") or {}).get("noise_sigma")
    if sigma is None or trained is None:
        return []
    # With --degrade, --sigma is the noise added: worth a word once the noise-aware model would do better.
    if far_from_trained(sigma, trained) if degrade else abs(sigma - trained) > 1e-9:
        return [f"note: {name} restores at the one noise level it was trained for (sigma {trained:g}); "
                f"--checkpoint {NOISE_AWARE} follows --sigma"]
    return []


def floor_notes(loaded, name: str, files) -> list[str]:
    """After restoring with a noise-aware model: which images' estimated noise lay below the lowest
    level its folds run at (SolverConfig.sigma_floor), and what that meant for them."""
    floor = sigma_floor(loaded.model)
    low = [f for f in files if f.restoration.sigma_estimated and f.restoration.sigma < floor]
    if not low:
        return []
    which = low[0].input.name + (f" and {len(low) - 1} more" if len(low) > 1 else "")
    config = loaded.model.config
    towards = "a Wiener estimate of the image (at that noise nearly the image itself)" \
        if config.blend_towards == "wiener" else "the image"
    blended = f", and its result was blended with {towards}, so it comes back nearly as it is" \
        if config.blend_error else ""
    return [f"note: the noise estimated in {which} is below sigma {floor:g}, the lowest level {name} was trained "
            f"for; its folds ran at {floor:g}{blended}"]


def estimate_notes(loaded, name: str, spec: TaskSpec, files) -> list[str]:
    """After restoring with a fixed-level denoiser: a hint when the noise estimated in some image
    is far from the level the model knows (where the noise-aware model restores better:
    docs/results/denoise-sweep.md)."""
    trained = (loaded.metadata.get("task") or {}).get("noise_sigma")
    if spec.task != "denoise" or noise_conditioned(loaded.model) or trained is None:
        return []
    far = [f for f in files if f.restoration.sigma_estimated and far_from_trained(f.restoration.sigma, trained)]
    if not far:
        return []
    which, level = _named_levels(far, [f.restoration.sigma for f in far])
    return [f"note: {name} restores at sigma {trained:g} whatever the noise, and the noise in {which} is estimated "
            f"at sigma {level}; --checkpoint {NOISE_AWARE} follows the noise level"]


def given_sigma_notes(given: float | None, files) -> list[str]:
    """After restoring with --sigma: which images' noise was estimated far from it (a factor of 1.5
    and 0.02 apart: the estimator errs by 2-5 % on 8-bit faces, docs/results/noise-estimator.md)."""
    if given is None:
        return []
    far = [f for f in files if f.restoration.sigma_seen is not None and far_from_given(f.restoration.sigma_seen, given)]
    if not far:
        return []
    which, level = _named_levels(far, [f.restoration.sigma_seen for f in far])
    return [f"note: the noise in {which} is estimated at sigma {level}, far from the --sigma {given:g} given; "
            "without --sigma, restore estimates it per image"]


def far_from_given(seen: float, given: float) -> bool:
    """Whether an estimated noise level `seen` is far from the `given` one."""
    return abs(seen - given) > 0.02 and max(seen, given) > 1.5 * min(seen, given)


def _named_levels(files, levels: list[float]) -> tuple[str, str]:
    """The first file's name (and how many more), and the range of their noise levels, in words."""
    which = files[0].input.name + (f" and {len(files) - 1} more" if len(files) > 1 else "")
    low, high = min(levels), max(levels)
    return which, f"{low:.3f}" + (f" to {high:.3f}" if high - low >= 0.0005 else "")
