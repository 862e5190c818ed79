"""Detection over an image or video file or a folder tree of them, writing a drawing and a JSON
per file and a summary; a bad file is reported and skipped, the others go on."""
from __future__ import annotations

import os
import time

import mmcv
from rich.console import Console

from .image_io import IMAGE_EXTENSIONS, list_images
from .inferencer import OVDetInferencer, progress_bar
from .video import VIDEO_EXTENSIONS, VideoReadError, infer_video, video_output_paths, write_json

SUMMARY_FILE = 'summary.json'


def output_paths(out_dir: str, rel: str) -> tuple[str, str]:
    """(drawing, JSON) paths of the image at ``rel`` (its path relative to the input folder):
    ``out_dir/vis/<rel>`` and ``out_dir/preds/<rel>.json``."""
    return os.path.join(out_dir, 'vis', rel), os.path.join(out_dir, 'preds', f'{rel}.json')


def list_inputs(source: str, exclude: str | None = None
                ) -> tuple[list[str], list[str], list[str]]:
    """``source`` (a file, or a folder searched recursively, leaving out ``exclude``) ->
    (image paths, video paths, other files passed over), each sorted. A file counts as a video
    by its ending (:data:`VIDEO_EXTENSIONS`), otherwise as an image. A folder with neither
    raises ``FileNotFoundError``."""
    files, others = list_images(source, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS, exclude=exclude,
                                what='images or videos')
    videos = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    images = [f for f in files if not f.lower().endswith(VIDEO_EXTENSIONS)]
    return images, videos, others


def infer_folder(inferencer: OVDetInferencer, source: str, out_dir: str, score_thr: float = 0.3,
                 batch_size: int = 1, frame_stride: int = 1, settings: dict | None = None,
                 console: Console | None = None) -> dict:
    """Run ``inferencer`` on ``source`` (a file, or a folder searched recursively for images
    (jpg/jpeg/png/bmp/webp) and videos (:data:`VIDEO_EXTENSIONS`), in any case) and write under
    ``out_dir``:

    - per image ``vis/<rel>`` (the image with boxes, names and scores) and ``preds/<rel>.json``
      (``bboxes`` x1, y1, x2, y2 in the pixels of the EXIF-upright image, ``labels``,
      ``label_names``, ``scores``, ``width``, ``height``);
    - per video, detections on every ``frame_stride``-th frame: ``vis/<rel>[.mp4]`` and
      ``preds/<rel>.json`` (see :func:`~mammut_det.apis.infer_video`);
    - ``summary.json`` (``settings``, vocabulary, processed and skipped images and videos with
      reasons, timing), which is also returned.

    ``out_dir`` is not searched; a folder without images or videos raises
    ``FileNotFoundError``. A video that fails part-way keeps the frames detected before the bad
    one and is listed among the skipped videos with how many frames were saved.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if frame_stride < 1:
        raise ValueError(f'frame_stride must be >= 1, got {frame_stride}')
    images, videos, others = list_inputs(source, exclude=out_dir)
    root = source if os.path.isdir(source) else os.path.dirname(source)
    console = console or Console(stderr=True, soft_wrap=True)
    processed: list[dict] = []
    skipped: list[dict] = []
    processed_videos: list[dict] = []
    skipped_videos: list[dict] = []
    start = time.perf_counter()

    def skip(records: list[dict], kind: str, rel: str, reason: str, **extra) -> None:
        records.append({kind: rel, 'reason': reason, **extra})
        console.print(f'[yellow]skipped[/yellow] {rel}: {reason}', markup=True, highlight=False)

    with progress_bar(console) as progress:
        task = progress.add_task('Images', total=len(images), visible=bool(images))
        for result in inferencer.iter_predict(images, score_thr, batch_size):
            rel = os.path.relpath(images[result.index], root)
            progress.advance(task)
            if result.error is not None:
                skip(skipped, 'image', rel, result.error)
                continue
            vis_path, json_path = output_paths(out_dir, rel)
            drawing = inferencer.draw(result.image, result.sample, score_thr)
            if not mmcv.imwrite(drawing[:, :, ::-1], vis_path):
                raise OSError(f'could not write {vis_path}')
            data = dict(image=rel, height=result.image.shape[0], width=result.image.shape[1],
                        **inferencer.to_dict(result.sample))
            write_json(json_path, data)
            processed.append(dict(image=rel, detections=len(data['scores'])))
        for path in videos:
            rel = os.path.relpath(path, root)
            task = progress.add_task(f'Video {rel}', total=None)
            try:
                processed_videos.append(infer_video(
                    inferencer, path, *video_output_paths(out_dir, rel), score_thr=score_thr,
                    batch_size=batch_size, frame_stride=frame_stride, name=rel,
                    on_frame=lambda done, total, task=task: progress.update(
                        task, completed=done, total=total)))
            except VideoReadError as e:
                skip(skipped_videos, 'video', rel, str(e).removeprefix(f'{path}: '),
                     frames_saved=e.frames_done)
    seconds = time.perf_counter() - start
    num_frames = sum(v['frames'] for v in processed_videos)
    num_frames += sum(v['frames_saved'] for v in skipped_videos)

    summary = dict(
        input=source, out_dir=out_dir, **(settings or {}),
        score_thr=score_thr, batch_size=batch_size, frame_stride=frame_stride,
        vocabulary=dict(num_classes=len(inferencer.vocabulary),
                        classes=list(inferencer.vocabulary)),
        num_images=len(images), num_processed=len(processed), num_skipped=len(skipped),
        num_videos=len(videos), num_videos_processed=len(processed_videos),
        num_videos_skipped=len(skipped_videos), num_frames=num_frames,
        num_detections=sum(p['detections'] for p in processed + processed_videos),
        processed=processed, skipped=skipped,
        processed_videos=processed_videos, skipped_videos=skipped_videos,
        other_files=[os.path.relpath(p, root) for p in others],
        timing=dict(model_load_s=round(inferencer.load_seconds, 3),
                    vocabulary_s=round(inferencer.vocabulary_seconds, 3),
                    text_passes=inferencer.model.class_embedder.num_text_passes,
                    inference_s=round(seconds, 3),
                    per_image_s=round(seconds / max(len(processed) + num_frames, 1), 4)))
    write_json(os.path.join(out_dir, SUMMARY_FILE), summary)
    return summary
