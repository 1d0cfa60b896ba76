"""Find faces in a photo with OpenCV's bundled frontal-face cascade (offline, no download).

OpenCV is an optional extra (`pip install "flowrestore[faces]"`, also in the test extra); the
cascade file ships inside the opencv-python-headless wheel. The detector sees the image in gray,
lightly smoothed when the image is noisy (Haar features are sums over boxes and cope with
smoothing far better than with noise), and keeps a box only when it shares less than a fifth of
its area with every larger box kept (a face found twice at two scales is one face).
"""

from __future__ import annotations

import functools

import numpy as np

from flowrestore.errors import FaceDetectorError
from flowrestore.faces.framing import Box

CASCADE = "haarcascade_frontalface_default.xml"
INSTALL = 'pip install "flowrestore[faces]" (OpenCV 4)'


def _cv2():
    try:
        import cv2
    except ImportError as error:
        raise FaceDetectorError(f"finding faces needs OpenCV, which is not installed: {INSTALL}") from error
    return cv2


def _cascade():
    cv2 = _cv2()
    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved the Haar cascades out
        raise FaceDetectorError(f"OpenCV {cv2.__version__} has no Haar face cascade: {INSTALL}")
    path = cv2.data.haarcascades + CASCADE
    cascade = _load(path)
    if cascade.empty():
        raise FaceDetectorError(f"OpenCV's face cascade {path} could not be loaded; reinstall: {INSTALL}")
    return cascade


@functools.lru_cache(maxsize=2)
def _load(path: str):
    """The cascade's XML parsed once per process, not once per image."""
    import cv2

    return cv2.CascadeClassifier(path)


def available() -> bool:
    """Whether faces can be found here (OpenCV installed with its cascades)."""
    try:
        _cascade()
    except FaceDetectorError:
        return False
    return True


def find_faces(rgb: np.ndarray, min_side: int = 24, noise_sigma: float = 0.0) -> list[Box]:
    """Faces in `rgb` (H, W, 3) uint8, largest first; `noise_sigma` (on the [0, 1] scale) is how
    noisy the image is, which sets the smoothing before detection."""
    cv2 = _cv2()
    cascade = _cascade()
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if noise_sigma > 0.02:
        gray = cv2.GaussianBlur(gray, (0, 0), sigmaX=1.0 + 10 * noise_sigma)
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    boxes = sorted((Box(*map(float, b)) for b in np.asarray(found).reshape(-1, 4)), key=lambda b: -b.width)
    kept: list[Box] = []
    for box in boxes:
        if all(_shared(box, k) < 0.2 * box.width * box.height for k in kept):
            kept.append(box)
    return kept


def _shared(a: Box, b: Box) -> float:
    """The area two boxes have in common."""
    width = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    height = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    return max(width, 0.0) * max(height, 0.0)
