"""Restoring many files: every input checked once before the first write, then restored a chunk
at a time, each chunk written as it is done; what a stopped run wrote, and how a rerun resumes it.

A chunk holds consecutive inputs, at most CHUNK_BATCHES batches of them and CHUNK_PIXELS pixels (a
larger image, or one restored in tiles, is a chunk of its own): a folder of photos is never held in
memory at once, and an interruption keeps every result written before it (flowrestore.restore_files
runs the chunks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flowrestore.errors import FlowrestoreError, RestoreInterrupted, RestoreStopped
from flowrestore.operators import TaskSpec

CHUNK_BATCHES = 4
CHUNK_PIXELS = 16_000_000


@dataclass(frozen=True)
class InputLayout:
    """What checking an input found out: its size, and what reading it changed."""

    height: int
    width: int
    notes: tuple[str, ...]
    narrow: tuple[int, int] = (0, 0)  # --mask alpha: its narrow hole pixels, of all its hole pixels


def check_inputs(paths: list[Path], targets: list[Path], spec: TaskSpec, mask,
                 from_alpha: bool = False) -> list[InputLayout]:
    """Every input decoded once and checked before anything is restored or written: its size (from
    the header first), that it can be read (every unreadable one is named at once), that the mask
    fits it and that its target can hold it. Its pixels are let go: they are read again when its
    chunk is restored."""
    from flowrestore.image_writing import check_writable
    from flowrestore.imageio import alpha_mask, image_size, opaque, read_each, read_image
    from flowrestore.resources import check_pixels
    from flowrestore.restore_notes import narrow_pixels
    from flowrestore.solving import observed_mask

    for path in paths:  # before decoding anything: a decoded image costs 12 bytes a pixel
        size = image_size(path)
        if size is not None:
            check_pixels(*size, str(path))

    def check(pair: tuple[Path, Path]) -> InputLayout:
        path, target = pair
        image = read_image(path)
        notes = image.notes + (transparency_notes(image, path) if from_alpha else ())
        if not from_alpha:  # (its own transparency fits it)
            observed_mask(spec, mask, image.height, image.width, str(path))
        check_writable(target, opaque(image) if from_alpha else image)  # --mask alpha: written opaque
        narrow = narrow_pixels(alpha_mask(image)) if from_alpha else (0, 0)
        return InputLayout(image.height, image.width, notes, narrow)

    return read_each(list(zip(paths, targets)), check)


def transparency_notes(image, path: Path) -> tuple[str, ...]:
    """--mask alpha: an image without transparency cannot say what to fill; one transparent
    everywhere or nowhere gets a note (its narrow holes, one note for all inputs: `narrow_notes`)."""
    from flowrestore.errors import UsageError
    from flowrestore.imageio import alpha_mask
    from flowrestore.restore_notes import holes

    if image.alpha is None:
        raise UsageError(f"{path} has no transparency to read the pixels to fill from (--mask alpha); "
                         "save it with those pixels transparent, or give --mask FILE")
    said = {"none": "no pixel is transparent, so there is nothing to fill (--mask alpha)",
            "all": "every pixel is transparent, so the result comes from the prior alone (--mask alpha)",
            }.get(holes(alpha_mask(image)))
    return (said,) if said else ()


def narrow_notes(paths: list[Path], inputs: list[InputLayout], narrow_holes: str) -> list[str]:
    """--mask alpha: one note for the inputs whose transparency has holes too narrow for the model."""
    from flowrestore.paths import listed
    from flowrestore.restore_notes import narrow_note

    which = [(path, layout.narrow) for path, layout in zip(paths, inputs) if layout.narrow[0]]
    if not which:
        return []
    narrow, total = (sum(counts[k] for _, counts in which) for k in (0, 1))
    whose = f"{which[0][0]}: its transparency" if len(paths) == 1 else \
        f"the transparency of {len(which)} of {len(paths)} inputs ({listed(path for path, _ in which)})"
    return [f"note: {whose} {narrow_note(narrow, total, narrow_holes)}"]


def plan_chunks(inputs: list[InputLayout], batch_size: int,
                alone: Callable[[InputLayout], bool] = lambda layout: False) -> list[list[int]]:
    """Consecutive inputs, at most CHUNK_BATCHES batches of them and CHUNK_PIXELS pixels to a chunk;
    an input for which `alone` holds (one restored in tiles) is a chunk of its own."""
    chunks: list[list[int]] = []
    pixels, closed = 0, True
    for i, layout in enumerate(inputs):
        size, single = layout.height * layout.width, alone(layout)
        if closed or single or len(chunks[-1]) >= CHUNK_BATCHES * batch_size or pixels + size > CHUNK_PIXELS:
            chunks.append([])
            pixels = 0
        chunks[-1].append(i)
        pixels += size
        closed = single
    return chunks


@contextmanager
def stopped_after(written: list[Path], count: int) -> Iterator[None]:
    """An error after the first write, or an interruption, becomes RestoreStopped naming what was
    written; an error before it passes as it is (nothing was written)."""
    try:
        yield
    except KeyboardInterrupt as error:
        raise RestoreInterrupted(f"interrupted; {_written(written, count)}") from error
    except FlowrestoreError as error:
        if not written:
            raise
        raise RestoreStopped(f"{str(error).rstrip('.')}. Stopped; {_written(written, count)}") from error


def _written(written: list[Path], count: int) -> str:
    if not written:
        return "nothing was written"
    from flowrestore.paths import listed

    rest = "" if len(written) == count else "; --skip-existing restores the rest"
    return f"{len(written)} of {count} results were written, each complete ({listed(written)}){rest}"


def unfinished(paths: list[Path], output: Path | None, skip_existing: bool) -> tuple[list[Path], list[Path]]:
    """The inputs to restore, and with --skip-existing those left out because their result exists
    (a result is written whole or not at all, so one that exists is complete)."""
    from flowrestore.paths import plan_outputs

    if not skip_existing:
        return paths, []
    targets = plan_outputs(paths, output, force=True)
    return ([p for p, t in zip(paths, targets) if not t.exists()],
            [p for p, t in zip(paths, targets) if t.exists()])


def skipped_notes(skipped: list[Path]) -> list[str]:
    if not skipped:
        return []
    from flowrestore.paths import listed

    return [f"note: skipped {len(skipped)} input{'s' * (len(skipped) != 1)} whose result exists "
            f"(--skip-existing): {listed(p.name for p in skipped)}"]
