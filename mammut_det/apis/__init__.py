"""Inference APIs: :class:`OVDetInferencer` (open-vocabulary detection on images, vocabulary
switchable between calls), :func:`infer_folder` (a folder tree to drawings, JSON files and a
summary) and robust image reading."""
from .checkpoint import CheckpointMismatchError, read_checkpoint
from .folder import SUMMARY_FILE, infer_folder, output_paths
from .image_io import ALPHA_BACKGROUND, IMAGE_EXTENSIONS, ImageReadError, list_images, read_image
from .inferencer import OVDetInferencer, as_bgr

__all__ = [
    'ALPHA_BACKGROUND', 'CheckpointMismatchError', 'IMAGE_EXTENSIONS', 'ImageReadError',
    'OVDetInferencer', 'SUMMARY_FILE', 'as_bgr', 'infer_folder', 'list_images', 'output_paths',
    'read_checkpoint', 'read_image',
]
