"""What one restore may use: the pixel limit, and running out of memory as a user error.

Tiling bounds the solver's memory, but the image itself is held a few times over at 12 bytes a
pixel each: the decoded file, the measurement, the padded copy the tiles are cut from, the
weighted sum of the tiles and the result. Restoring a 4000x3000 photo held 750 MB resident
during the tiles, about 30 bytes a pixel above PyTorch's own 400 MB (docs/speed.md). The limit,
50 megapixels, keeps that near 2 GB; it lies below Pillow's decompression-bomb limit (89
megapixels), which would otherwise be the only one. It is checked from the file's header,
before anything is decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flowrestore.errors import ImageTooLargeError, OutOfMemoryError

MAX_PIXELS = 50_000_000


def check_pixels(width: int, height: int, name: str = "the image", limit: int = MAX_PIXELS) -> None:
    if width * height > limit:
        raise ImageTooLargeError(
            f"{name} is {width}x{height} = {width * height / 1e6:.0f} megapixels, more than the "
            f"{limit / 1e6:.0f} megapixels one restore takes; downscale it or cut it into parts first"
        )


def is_out_of_memory(error: BaseException) -> bool:
    """True for a failed CPU allocation: MemoryError (NumPy, Python) or PyTorch's allocator error.

    CUDA's torch.OutOfMemoryError is left to the CLI, whose remedy names the GPU.
    """
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return (
        isinstance(error, RuntimeError)
        and type(error).__name__ != "OutOfMemoryError"
        and ("DefaultCPUAllocator" in text or "can't allocate memory" in text or "not enough memory" in text)
    )


@contextmanager
def memory_errors(what: str, remedy: str) -> Iterator[None]:
    """Turn running out of CPU memory inside the block into OutOfMemoryError: '<what>; <remedy>'."""
    try:
        yield
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        raise OutOfMemoryError(f"out of memory {what}; {remedy}") from error
