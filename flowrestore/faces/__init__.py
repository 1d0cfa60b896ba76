"""Faces in photos: detection (OpenCV, optional), the prior's framing, crop and paste-back."""

from flowrestore.faces.framing import Box, Frame, box_of, frame_of, whole_image_frame
from flowrestore.faces.restore import Face, FaceOptions, face_task, frames_for, restore_faces, wanted, with_faces

__all__ = ["Box", "Face", "FaceOptions", "Frame", "box_of", "face_task", "frame_of", "frames_for",
           "restore_faces", "wanted", "whole_image_frame", "with_faces"]
