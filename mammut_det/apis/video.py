"""Detection on video files: every ``frame_stride``-th frame decoded with decord, detected in
batches (the image encoder runs once per frame, the class embeddings come from the inferencer's
cache), drawn into an mp4 and written as one JSON of per-frame boxes."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from .inferencer import OVDetInferencer

#: File endings taken as videos when a folder is searched (compared case-insensitively).
VIDEO_EXTENSIONS: tuple[str, ...] = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
                                     '.mpeg')
#: frame rate written when a file does not state one
DEFAULT_FPS = 25.0


class VideoReadError(ValueError):
    """A video that cannot be opened or decoded; the message names the file. ``frames_done``
    says how many frames were detected (and saved) before decoding failed."""

    def __init__(self, message: str, frames_done: int = 0) -> None:
        super().__init__(message)
        self.frames_done = frames_done


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[-1].strip() if lines else ""}'


class VideoFrames:
    """Every ``stride``-th frame of the video file ``path``, as BGR uint8 arrays [H, W, 3].

    Opening a missing, empty or corrupt file raises :class:`VideoReadError` naming it. Iteration
    stops at the first frame that cannot be decoded and records why in :attr:`error`, so that
    the frames before it are still used.
    """

    def __init__(self, path: str, stride: int = 1) -> None:
        if stride < 1:
            raise ValueError(f'frame stride must be >= 1, got {stride}')
        if not os.path.isfile(path):
            raise VideoReadError(f'{path}: no such file')
        import decord
        try:
            self.reader = decord.VideoReader(path, num_threads=1)
            self.num_frames = len(self.reader)
            if self.num_frames == 0:
                raise VideoReadError(f'{path}: the video has no frames')
            self.height, self.width = self.reader[0].shape[:2]
        except VideoReadError:
            raise
        except Exception as e:  # decord raises RuntimeError or DECORDError for unreadable bytes
            raise VideoReadError(f'{path}: cannot open the video ({_first_line(e)})') from e
        self.path = path
        fps = float(self.reader.get_avg_fps())
        self.fps = fps if np.isfinite(fps) and fps > 0 else DEFAULT_FPS
        self.stride = stride
        #: indices (in the file) of the frames given
        self.indices = range(0, self.num_frames, stride)
        #: why decoding stopped early, or ``None``
        self.error: str | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[np.ndarray]:
        from decord._ffi.base import DECORDError
        self.error = None
        for index in self.indices:
            try:
                frame = self.reader[index].asnumpy()
            except (DECORDError, RuntimeError) as e:
                self.error = f'cannot decode frame {index} of {self.num_frames} ({_first_line(e)})'
                return
            yield np.ascontiguousarray(frame[:, :, ::-1])


def write_json(path: str, data: dict) -> None:
    """``data`` to ``path`` (indented JSON), creating its folder."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)


def video_output_paths(out_dir: str, rel: str) -> tuple[str, str]:
    """(annotated mp4, JSON) paths of the video at ``rel``: ``out_dir/vis/<rel>`` (``.mp4``
    appended unless it ends so) and ``out_dir/preds/<rel>.json``."""
    vis = rel if rel.lower().endswith('.mp4') else f'{rel}.mp4'
    return os.path.join(out_dir, 'vis', vis), os.path.join(out_dir, 'preds', f'{rel}.json')


class _Mp4Writer:
    """Frames (RGB [H, W, 3]) to an mp4 (OpenCV, mp4v codec), opened at the first frame."""

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None

    def write(self, rgb: np.ndarray) -> None:
        if self.writer is None:
            os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                                          (w, h))
            if not self.writer.isOpened():
                raise OSError(f'OpenCV cannot open {self.path} for writing')
        self.writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def infer_video(inferencer: OVDetInferencer, path: str, vis_path: str, json_path: str,
                score_thr: float = 0.3, batch_size: int = 1, frame_stride: int = 1,
                on_frame: Callable[[int, int], None] | None = None,
                name: str | None = None) -> dict:
    """Detect ``inferencer``'s vocabulary on every ``frame_stride``-th frame of ``path``.

    Writes ``vis_path`` (an mp4 of the detected frames with boxes, names and scores drawn by the
    inferencer's visualizer, at the file's frame rate divided by ``frame_stride``) and
    ``json_path`` (``video`` (``name`` or the path), ``width``, ``height``, ``fps``,
    ``num_frames`` in the file, ``frame_stride``, ``complete``, ``error`` and ``frames``: per
    detected frame its ``frame`` index, ``time_s`` and the boxes as
    :meth:`OVDetInferencer.to_dict` gives them). ``on_frame(done, total)`` is called after each
    frame. Returns ``video``, ``frames`` (detected) and ``detections``.

    A file that cannot be opened raises :class:`VideoReadError` before anything is written; one
    that fails to decode part-way raises it after writing the frames detected before the bad one
    (with ``complete`` false).
    """
    frames = VideoFrames(path, frame_stride)
    name = name or path
    writer = _Mp4Writer(vis_path, frames.fps / frame_stride)
    records: list[dict] = []
    error = None
    try:
        for result in inferencer.iter_predict(frames, score_thr, batch_size):
            index = frames.indices[result.index]
            if result.error is not None:
                error = f'frame {index}: {result.error}'
                break
            writer.write(inferencer.draw(result.image, result.sample, score_thr))
            records.append(dict(frame=index, time_s=round(index / frames.fps, 4),
                                **inferencer.to_dict(result.sample)))
            if on_frame is not None:
                on_frame(len(records), len(frames))
        error = error or frames.error
    finally:
        writer.close()
        write_json(json_path, dict(
            video=name, width=frames.width, height=frames.height, fps=frames.fps,
            num_frames=frames.num_frames, frame_stride=frame_stride,
            complete=error is None and len(records) == len(frames), error=error,
            frames=records))
    if error is not None:
        done = f'; the {len(records)} frames detected before it are saved' if records else ''
        raise VideoReadError(f'{path}: {error}{done}', len(records))
    return dict(video=name, frames=len(records),
                detections=sum(len(r['scores']) for r in records))
