"""Restore image files top to bottom: read -> measure or take y -> pad -> solve -> crop -> write.

`restore_files` is what `flowrestore restore` runs. It returns what happened, one RestoredFile
per input and the notes a user should see, and never prints; padding, solving and cropping are
flowrestore.restore's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from flowrestore.errors import FlowrestoreError, UsageError
from flowrestore.imageio import ImageData
from flowrestore.likeness import Likeness
from flowrestore.operators import TaskSpec
from flowrestore.restore import NARROW_HOLES, Restoration
from flowrestore.tiling import Tiling, default_pad

FileProgress = Callable[[int, int, int], None]  # (tiles done, tiles in all, images in all)


@dataclass(frozen=True)
class RestoreOptions:
    """What to restore and how: the options of `flowrestore restore`, None for the default."""

    inputs: tuple[str, ...]  # image files, folders or glob patterns
    task: str | None = None  # default: the checkpoint's
    checkpoint: str | None = None  # default: glow-<task>
    sigma: float | None = None
    mask: Path | None = None
    box: int | None = None
    blur_sigma: float | None = None
    blur_kernel: int | None = None
    blur_boundary: str | None = None
    device: str = "auto"
    batch_size: int = 8
    output: Path | None = None  # a file (one input) or a folder; default: next to each input
    force: bool = False
    skip_existing: bool = False  # leave out the inputs whose result exists (a run resumed)
    degrade: bool = False  # treat the inputs as clean: measure, restore and score them
    compare: bool = False
    seed: int = 0
    tile: int = 512
    tile_pad: int | None = None  # default: the task's default_pad
    registry: Path | None = None
    faces: str = "off"  # flowrestore.faces.MODES: off, detect (--faces), aligned (--aligned)
    only_faces: bool = False  # leave everything outside the faces as it was
    show_faces: bool = False  # also write <name>_faces.png: the input with each face's frame drawn
    narrow_holes: str | None = None  # inpainting: who fills holes too narrow for the model; None: NARROW_HOLES[0]


@dataclass(frozen=True)
class RestoredFile:
    input: Path
    output: Path
    comparison: Path | None
    # its noise level, PSNR/SSIM with --degrade, and the faces restored at the prior's framing;
    # released: its pixels are in `output`
    restoration: Restoration
    likeness: Likeness  # under the bundled celeba-prior (flowrestore.likeness)
    face_figure: Path | None = None  # with show_faces
    face_likeness: tuple[Likeness, ...] = ()  # of each face in restoration.faces


@dataclass(frozen=True)
class RestoredFiles:
    checkpoint: str  # as given (or the task's default)
    task: TaskSpec
    label: str  # the task in words, or the mask's name
    device: torch.device
    seconds: float  # restoring, reading and writing excluded
    files: list[RestoredFile]
    notes: list[str]  # "note: ..." and "warning: ..." lines, in the order they arose
    skipped: tuple[Path, ...] = ()  # --skip-existing: the inputs whose result existed


def restore_files(options: RestoreOptions, progress: FileProgress | None = None) -> RestoredFiles:
    """Restore every input of `options` and write the results, a chunk of inputs at a time
    (flowrestore.file_chunks).

    Every input is read and checked before anything is written, so that a bad one costs nothing.
    An error or an interruption (KeyboardInterrupt) after the first write raises RestoreStopped,
    which names what was written; each result kept is complete. The RestoredFiles returned hold
    no pixels: they are in the files written.
    """
    from flowrestore.checkpoints import default_checkpoint, load
    from flowrestore.devices import pick_device
    from flowrestore.file_chunks import (check_inputs, narrow_notes, plan_chunks, skipped_notes, stopped_after,
                                         unfinished)
    from flowrestore.imageio import read_mask
    from flowrestore.likeness import PRIOR
    from flowrestore.paths import comparison_paths, expand_inputs, plan_outputs
    from flowrestore.restore_notes import (box_notes, estimate_notes, floor_notes, given_sigma_notes, mask_notes,
                                           model_notes)
    from flowrestore.tiling import count_tiles, fits_one_tile

    check_options(options)
    paths, skipped = unfinished(expand_inputs(list(options.inputs)), options.output, options.skip_existing)
    targets = plan_outputs(paths, options.output, options.force)
    figures = comparison_paths(paths, targets, options.force) if options.compare else [None] * len(paths)
    boxes = comparison_paths(paths, targets, options.force, "faces") if options.show_faces else [None] * len(paths)
    device = pick_device(options.device)
    name = options.checkpoint or default_checkpoint(options.task)
    loaded = load(name, options.task, str(device), options.registry, show_progress=True, kind="solver")
    spec = task_spec(loaded.metadata.get("task"), options)
    check_task_options(options, spec.task)
    notes = model_notes(loaded, name, spec, options) + skipped_notes(skipped)
    from_alpha = mask_from_alpha(options)
    mask = read_mask(options.mask) if options.mask is not None and not from_alpha else None
    narrow_holes = options.narrow_holes or NARROW_HOLES[0]
    notes += mask_notes(mask, options.mask.name, narrow_holes) if mask is not None else []
    notes += box_notes(spec, narrow_holes) if spec.task == "inpaint" and options.mask is None else []
    inputs = check_inputs(paths, targets, spec, mask, from_alpha)
    notes += [f"note: {path}: {text}" for path, layout in zip(paths, inputs) for text in layout.notes]
    notes += narrow_notes(paths, inputs, narrow_holes) if from_alpha else []

    tiling, multiple = tiling_for(options, spec), loaded.model.size_multiple
    run = _Run(loaded.model, name, spec, mask, options, tiling, load(PRIOR).model, paths, targets, figures, boxes)
    tiles = [count_tiles(layout.height, layout.width, tiling, multiple) for layout in inputs]
    tiled = lambda layout: not fits_one_tile(layout.height, layout.width, tiling, multiple)  # noqa: E731
    files: list[RestoredFile] = []
    written: list[Path] = []
    seconds, tiles_before = 0.0, 0
    with stopped_after(written, len(paths)):
        for chunk in plan_chunks(inputs, options.batch_size, tiled):
            report = None if progress is None else \
                lambda finished, _, before=tiles_before: progress(before + finished, sum(tiles), len(paths))
            rows, spent = restore_chunk(run, chunk, written, report)
            files += rows
            seconds += spent
            tiles_before += sum(tiles[i] for i in chunk)
    notes += estimate_notes(loaded, name, spec, files) + floor_notes(loaded, name, files)
    notes += given_sigma_notes(options.sigma, files)
    label = run_label(spec, options, loaded.model)
    return RestoredFiles(name, spec, label, device, seconds, files, notes, tuple(skipped))


@dataclass(frozen=True)
class _Run:
    """What every chunk of one restore shares."""

    model: object  # the solver
    name: str  # the checkpoint, as given
    spec: TaskSpec
    mask: torch.Tensor | None
    options: RestoreOptions
    tiling: Tiling
    prior: object  # the bundled celeba-prior, for face-likeness
    paths: list[Path]
    targets: list[Path]
    figures: list[Path | None]
    boxes: list[Path | None]


def restore_chunk(run: _Run, chunk: list[int], written: list[Path],
                  progress=None) -> tuple[list[RestoredFile], float]:
    """Read, restore, score and write the inputs `chunk` (indices into run.paths), each result added
    to `written` once in place; their rows (without pixels), and the seconds spent restoring."""
    from flowrestore.faces.figure import write_frames
    from flowrestore.imageio import alpha_mask, opaque, read_each, read_image
    from flowrestore.operators import image_seed
    from flowrestore.restore import restore_images
    from flowrestore.solving import noise_conditioned

    options = run.options
    paths, targets = [run.paths[i] for i in chunk], [run.targets[i] for i in chunk]
    figures, boxes = [run.figures[i] for i in chunk], [run.boxes[i] for i in chunk]
    images = read_each(paths, read_image)
    masks = run.mask
    if mask_from_alpha(options):  # each image's transparent pixels are the ones to fill; the result is opaque
        masks = [alpha_mask(image) for image in images]
        # --degrade keeps the clean image whole (it is the reference); a file's hole reads grey
        images = [opaque(image, None if options.degrade else m) for image, m in zip(images, masks)]
    started = time.perf_counter()
    # From the file name, as in the benchmark: an image gets the same measurement in both,
    # whatever else is in the run and however it is batched.
    seeds = [image_seed(p.name, options.seed) for p in paths]
    restored = restore_images(
        run.model, images, run.spec, masks, degrade=options.degrade, seeds=seeds, compare=options.compare,
        batch_size=options.batch_size, tiling=run.tiling, progress=progress, sigma=options.sigma,
        faces=face_options(options), narrow_holes=options.narrow_holes or NARROW_HOLES[0],
    )
    seconds = time.perf_counter() - started
    check_finite(restored, paths, run.name)
    likeness, per_face = face_likeness(run.prior, restored, run.spec.task, run.name, noise_conditioned(run.model),
                                       references=images if options.degrade else None)
    write_all(restored, targets, figures, options.force, written)
    write_frames(restored, boxes, options.force)
    rows = zip(paths, targets, figures, [r.released() for r in restored], likeness, boxes, per_face)
    return [RestoredFile(*row) for row in rows], seconds


def run_label(spec: TaskSpec, options: RestoreOptions, model) -> str:
    """What was restored, in words: the task's label, the mask's name, or for a noise-aware model
    left to estimate the noise, that it was estimated (each image's level is in its own report)."""
    from flowrestore.solving import noise_conditioned

    if mask_from_alpha(options):
        return "inpaint the transparent pixels"
    if options.mask is not None:
        return f"inpaint with the mask {options.mask.name}"
    if options.sigma is None and not options.degrade and noise_conditioned(model):
        return "denoise, sigma estimated per image" if spec.task == "denoise" else \
            f"{spec.label()}, noise estimated per image"
    return spec.label()


ALPHA_MASK = "alpha"  # --mask alpha: each image's own transparency says which pixels to fill


def mask_from_alpha(options: RestoreOptions) -> bool:
    return options.mask is not None and str(options.mask) == ALPHA_MASK


def check_options(options: RestoreOptions) -> None:
    """Refuse bad values and contradicting options before anything is read or loaded."""
    tiling_for(options, None)
    if options.task is not None:
        task_spec(None, options)
    if options.checkpoint is not None and not options.checkpoint.strip():
        raise UsageError("--checkpoint is empty; give a registry name, a .safetensors path or an hf:// address")
    if options.checkpoint is None and options.task is None:
        raise UsageError("give --task (denoise, inpaint or deblur) or --checkpoint")
    if (options.only_faces or options.show_faces) and options.faces == "off":
        raise UsageError("--only-faces and --show-faces need face mode: add --faces (find faces) or --aligned")
    face_options(options)
    if options.force and options.skip_existing:
        raise UsageError("give --force (overwrite existing results) or --skip-existing (keep them), not both")
    if options.mask is not None and options.box is not None:
        raise UsageError("give --mask or --box, not both: the mask already says which pixels to fill")
    if options.narrow_holes is not None and options.narrow_holes not in NARROW_HOLES:
        raise UsageError(f"unknown --narrow-holes {options.narrow_holes!r}; choose one of {', '.join(NARROW_HOLES)}")


def face_options(options: RestoreOptions):
    """The flowrestore.faces.FaceOptions of --faces / --aligned / --only-faces; None when off."""
    from flowrestore.faces import FaceOptions

    if options.faces == "off":
        return None
    return FaceOptions(mode=options.faces, only_faces=options.only_faces)


def task_spec(base: dict | None, options: RestoreOptions) -> TaskSpec:
    """The TaskSpec to run: the checkpoint's (or the task's paper default) with the options on top."""
    values = TaskSpec.from_dict(base).to_dict() if base else TaskSpec.default(options.task).to_dict()
    overrides = {
        "noise_sigma": options.sigma, "blur_sigma": options.blur_sigma, "box": options.box,
        "blur_kernel": options.blur_kernel, "blur_boundary": options.blur_boundary,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TaskSpec(**values)


# The options that describe one task's operator, and that task: given for another, they would be ignored.
TASK_OPTIONS = {
    "mask": ("--mask", "inpaint"), "box": ("--box", "inpaint"), "blur_sigma": ("--blur-sigma", "deblur"),
    "blur_kernel": ("--blur-kernel", "deblur"), "blur_boundary": ("--blur-boundary", "deblur"),
    "narrow_holes": ("--narrow-holes", "inpaint"),
}
TASK_WORDS = {"denoise": "denoising", "inpaint": "inpainting", "deblur": "deblurring"}


def check_task_options(options: RestoreOptions, task: str) -> None:
    """Refuse an option of another task's operator instead of ignoring it."""
    for field, (flag, owner) in TASK_OPTIONS.items():
        if getattr(options, field) is not None and task != owner:
            raise UsageError(f"{flag} applies to {TASK_WORDS[owner]} only, but the task is {task}")


def tiling_for(options: RestoreOptions, spec: TaskSpec | None) -> Tiling:
    """The tiling of --tile and --tile-pad; without --tile-pad, the task's default (or Tiling's)."""
    pad = options.tile_pad if options.tile_pad is not None else default_pad(spec) if spec else Tiling.pad
    return Tiling(tile=options.tile, pad=pad)


def check_finite(results: list[Restoration], paths: list[Path], checkpoint: str) -> None:
    """Refuse to write NaN or infinite results (they would be saved as black pixels)."""
    bad = [p.name for p, r in zip(paths, results) if not bool(torch.isfinite(r.image.rgb).all())]
    if bad:
        from flowrestore.paths import listed

        raise FlowrestoreError(
            f"checkpoint {checkpoint} produced NaN or infinite values for {listed(bad)}, which were not written. "
            "The checkpoint is probably broken: use another one"
        )


def face_likeness(prior, results: list[Restoration], task: str, checkpoint: str | None = None,
                  noise_aware: bool = False, references: list[ImageData] | None = None
                  ) -> tuple[list[Likeness], list[tuple[Likeness, ...]]]:
    """Each restoration's face-likeness under `prior`, the bundled celeba-prior (flowrestore.likeness),
    and that of each face restored in face mode; `checkpoint` names the solver, `noise_aware` says
    whether it is noise-conditioned (likeness.limits_for). With `references` (--degrade: the clean
    inputs), those are judged instead, against the clean faces (likeness.CLEAN_LIMITS): the
    restoration's own texture is not a file's then, and a near-perfect one is no warning sign. A
    result the model did not make (inpainting holes all narrow, filled by biharmonic interpolation) is
    mostly the input's own pixels, and is judged against the clean faces too."""
    from flowrestore.likeness import assess

    if references is not None:
        whole = assess(prior, [image.rgb for image in references], task, clean=True)
    else:
        whole = [None] * len(results)
        for clean in (False, True):
            which = [i for i, r in enumerate(results) if r.by_model != clean]
            judged = assess(prior, [results[i].image.rgb for i in which], task, checkpoint=checkpoint,
                            noise_aware=noise_aware, clean=clean) if which else []
            for i, likeness in zip(which, judged):
                whole[i] = likeness
    faces = assess(prior, [face.restored for r in results for face in r.faces], task, checkpoint=checkpoint,
                   noise_aware=noise_aware)
    per_face, start = [], 0
    for r in results:
        per_face.append(tuple(faces[start : start + len(r.faces)]))
        start += len(r.faces)
    return whole, per_face


def write_all(results: list[Restoration], targets: list[Path], figures: list[Path | None], force: bool,
              written: list[Path]) -> None:
    """Write every output (and figure), adding each result to `written` once it is in place."""
    from flowrestore.image_writing import write_image, write_rgb

    for result, target, figure in zip(results, targets, figures):
        write_image(target, result.image, overwrite=force)
        if figure is not None:
            write_rgb(figure, result.comparison, overwrite=force)
        written.append(target)
