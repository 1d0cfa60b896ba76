"""The exceptions a user can cause: each message names the problem and the fix in one line.

Every class here derives from FlowrestoreError, which the CLI's one error boundary turns into a
red message and exit code 1. Library code raises them and never prints. UsageError (a bad value
given by the user: an option, a configuration field, an input that does not fit) is also a
ValueError, so code that catches ValueError keeps working; any other ValueError is a bug and
the boundary shows its traceback.
"""

from __future__ import annotations


class FlowrestoreError(Exception):
    """A problem the user can fix; str(error) is the one-line message shown to them."""

    exit_code = 1  # the CLI's, for this error


class UsageError(FlowrestoreError, ValueError):
    """A value the user gave that cannot be used (an option, a configuration field, a size)."""


# Image files (flowrestore.imageio)


class ImageReadError(FlowrestoreError):
    """An input image that cannot be used."""


class ImageNotFoundError(ImageReadError):
    pass


class ImageUnreadableError(ImageReadError):
    pass


class NotAnImageError(ImageReadError):
    pass


class TruncatedImageError(ImageReadError):
    pass


class DecompressionBombError(ImageReadError):
    pass


class MaskSizeError(UsageError):
    pass


class ImageWriteError(FlowrestoreError):
    """An output that cannot be written: it exists, its folder is not writable, or its format
    cannot hold the image."""


# Checkpoints (flowrestore.checkpoints, flowrestore.hub)


class CheckpointError(FlowrestoreError):
    """A file that is not a flowrestore checkpoint, or one that does not match its model."""


class RegistryError(FlowrestoreError):
    """A malformed checkpoints.toml."""


class UnknownCheckpointError(FlowrestoreError):
    pass


class CheckpointUnavailableError(FlowrestoreError):
    """A registry entry whose weights are neither bundled, cached nor downloadable."""


class ChecksumError(FlowrestoreError):
    pass


class WrongTaskError(FlowrestoreError):
    pass


class HubError(FlowrestoreError):
    """A Hugging Face Hub download that failed (missing repository or file, offline, network)."""


# Running


class DeviceError(UsageError):
    pass


class TrainingError(FlowrestoreError):
    """Training cannot start or go on (a run in the way, a changed configuration, divergence)."""


class ImageTooLargeError(FlowrestoreError):
    """An image above the pixel limit of one restore (flowrestore.resources)."""


class OutOfMemoryError(FlowrestoreError):
    """The computer ran out of memory while restoring; the message names the remedy."""


class RestoreStopped(FlowrestoreError):
    """A restore that stopped after writing some of its results; the message names them."""


INTERRUPTED = 130  # the shell's exit status for Ctrl-C (SIGINT)


class RestoreInterrupted(RestoreStopped):
    """A restore interrupted by the user (Ctrl-C); the message names what was written."""

    exit_code = INTERRUPTED


class FaceDetectorError(FlowrestoreError):
    """Faces were asked for but cannot be found here (OpenCV missing or its cascade unreadable)."""
