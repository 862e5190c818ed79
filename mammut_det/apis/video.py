"""Detection on video files: every ``frame_stride``-th frame decoded with OpenCV, detected in
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


class VideoFrames:
    """Every ``stride``-th frame of the video file ``path``, as BGR uint8 arrays [H, W, 3],
    decoded in order with OpenCV's FFmpeg backend. Frames come back synchronously, so a bad
    frame is met at the same place every time (decord's threaded decoder reported a corrupt
    packet at frames 0 to 7 of one file, from run to run).

    Opening a missing, empty or corrupt file raises :class:`VideoReadError` naming it. Iteration
    stops at the first frame that cannot be decoded before the end the container states (its
    frame count), and records why in :attr:`error`, so that the frames before it are still used.
    """

    def __init__(self, path: str, stride: int = 1) -> None:
        if stride < 1:
            raise ValueError(f'frame stride must be >= 1, got {stride}')
        if not os.path.isfile(path):
            raise VideoReadError(f'{path}: no such file')
        self.path = path
        self.stride = stride
        capture = self._open()
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        capture.release()
        #: frames the file says it holds (``None`` when it does not say)
        self.num_frames = count if count > 0 else None
        if count == 0 or min(self.width, self.height) <= 0:
            raise VideoReadError(f'{path}: the video has no frames')
        self.fps = fps if np.isfinite(fps) and fps > 0 else DEFAULT_FPS
        #: why decoding stopped early, or ``None``
        self.error: str | None = None

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoReadError(f'{self.path}: cannot open the video (FFmpeg finds no readable '
                                 'video stream: corrupt, truncated, empty or not a video)')
        return capture

    def __len__(self) -> int:
        """Frames given (``0`` when the file does not say how many it holds)."""
        return -(-(self.num_frames or 0) // self.stride)

    def frame_index(self, k: int) -> int:
        """Index in the file of the ``k``-th frame given."""
        return k * self.stride

    def __iter__(self) -> Iterator[np.ndarray]:
        self.error = None
        capture = self._open()
        index = 0
        try:
            while self.num_frames is None or index < self.num_frames:
                if not capture.grab():
                    break
                if index % self.stride == 0:
                    ok, frame = capture.retrieve()
                    if not ok:
                        break
                    yield frame
                index += 1
        finally:
            capture.release()
        if self.num_frames is not None and index < self.num_frames:
            self.error = f'cannot decode frame {index} of the {self.num_frames} it holds'


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
                on_frame: Callable[[int, int | None], None] | None = None,
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
    height, width = frames.height, frames.width
    error = None
    try:
        for result in inferencer.iter_predict(frames, score_thr, batch_size):
            index = frames.frame_index(result.index)
            if result.error is not None:
                error = f'frame {index}: {result.error}'
                break
            height, width = result.image.shape[:2]  # as decoded (rotation metadata applied)
            writer.write(inferencer.draw(result.image, result.sample, score_thr))
            records.append(dict(frame=index, time_s=round(index / frames.fps, 4),
                                **inferencer.to_dict(result.sample)))
            if on_frame is not None:
                on_frame(len(records), len(frames) or None)
        error = error or frames.error
    finally:
        writer.close()
        write_json(json_path, dict(
            video=name, width=width, height=height, fps=frames.fps,
            num_frames=frames.num_frames, frame_stride=frame_stride, complete=error is None,
            error=error, frames=records))
    if error is not None:
        done = f'; the {len(records)} frames detected before it are saved' if records else ''
        raise VideoReadError(f'{path}: {error}{done}', len(records))
    return dict(video=name, frames=len(records),
                detections=sum(len(r['scores']) for r in records))
