"""Inference APIs: :class:`OVDetInferencer` (open-vocabulary detection on images, in batches,
vocabulary switchable between calls), :func:`infer_folder` (images and videos of a folder tree to
drawings, JSON files and a summary), :func:`infer_video`, and robust image and video reading."""
from .checkpoint import CheckpointMismatchError, read_checkpoint
from .folder import SUMMARY_FILE, infer_folder, list_inputs, output_paths
from .image_io import ALPHA_BACKGROUND, IMAGE_EXTENSIONS, ImageReadError, list_images, read_image
from .inferencer import InferenceResult, OVDetInferencer, as_bgr
from .video import VIDEO_EXTENSIONS, VideoFrames, VideoReadError, infer_video, video_output_paths

__all__ = [
    'ALPHA_BACKGROUND', 'CheckpointMismatchError', 'IMAGE_EXTENSIONS', 'ImageReadError',
    'InferenceResult', 'OVDetInferencer', 'SUMMARY_FILE', 'VIDEO_EXTENSIONS', 'VideoFrames',
    'VideoReadError', 'as_bgr', 'infer_folder', 'infer_video', 'list_images', 'list_inputs',
    'output_paths', 'read_checkpoint', 'read_image', 'video_output_paths',
]
