"""Reading photos for inference (EXIF orientation, any bit depth or colour mode) and finding the
images of a folder."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File endings taken as images when a folder is searched (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')

#: Colour that transparent pixels are composited onto (RGB): the ImageNet mean, as mmcv's
#: Pillow loader uses for grey-alpha images.
ALPHA_BACKGROUND: tuple[int, int, int] = (124, 117, 104)


class ImageReadError(ValueError):
    """An input that cannot be decoded as an image; the message names the file."""


def _to_uint8(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit single-channel modes ('I;16*', 'I', 'F') -> 8-bit 'L', scaling 16-bit
    ranges down by 257 (65535 -> 255) rather than clipping them."""
    array = np.asarray(img, dtype=np.float64)
    if img.mode.startswith('I;16') or (img.mode in ('I', 'F') and array.max(initial=0) > 255):
        array = array / 257.0
    elif img.mode == 'F' and array.max(initial=0) <= 1.0:
        array = array * 255.0
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode='L')


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == 'RGB':
        return img
    if img.mode.startswith('I') or img.mode == 'F':
        img = _to_uint8(img)
    if img.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or 'transparency' in img.info:
        rgba = img.convert('RGBA')
        canvas = Image.new('RGB', rgba.size, ALPHA_BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel('A'))
        return canvas
    return img.convert('RGB')


def read_image(path: str) -> np.ndarray:
    """Decode ``path`` to a BGR uint8 array [H, W, 3] in its EXIF-upright frame.

    Grey, palette, CMYK and 16-bit images are converted; transparent pixels are composited onto
    :data:`ALPHA_BACKGROUND`. A missing, truncated, corrupt or non-image file raises
    :class:`ImageReadError` naming it.
    """
    try:
        with Image.open(path) as img:
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
            array = np.asarray(rgb, dtype=np.uint8)
    except FileNotFoundError as e:
        raise ImageReadError(f'{path}: no such file') from e
    except UnidentifiedImageError as e:
        raise ImageReadError(f'{path}: not an image Pillow can identify (wrong extension or '
                             'corrupt header)') from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f'{path}: cannot read the image ({e})') from e
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(f'{path}: empty image of shape {array.shape}')
    return np.ascontiguousarray(array[:, :, ::-1])


def list_images(source: str, extensions: Sequence[str] = IMAGE_EXTENSIONS,
                exclude: str | None = None, what: str = 'images') -> tuple[list[str], list[str]]:
    """``source`` (a file, or a folder searched recursively for files with ``extensions``,
    leaving out the folder ``exclude``, e.g. the output folder) -> (their paths, sorted; other
    files that were passed over). A folder without any raises ``FileNotFoundError`` saying there
    are no ``what``."""
    if os.path.isfile(source):
        return [source], []
    if not os.path.isdir(source):
        raise FileNotFoundError(f'input {source!r} is neither a file nor a folder')
    exts = tuple(e.lower() for e in extensions)
    images, others = [], []
    skip = os.path.realpath(exclude) if exclude else None
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) != skip]
        for name in files:
            path = os.path.join(folder, name)
            (images if name.lower().endswith(exts) else others).append(path)
    if not images:
        found = f'; it holds {len(others)} other file(s)' if others else ' (it is empty)'
        raise FileNotFoundError(f'no {what} ({", ".join(e[1:] for e in exts)}, any case) under '
                                f'folder {source!r}{found}')
    return sorted(images), sorted(others)
