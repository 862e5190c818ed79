"""Detection over an image file or a folder tree, writing a drawing and a JSON per image and a
summary; a bad image is reported and skipped, the others go on."""
from __future__ import annotations

import json
import os
import time

import mmcv
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .image_io import ImageReadError, list_images
from .inferencer import OVDetInferencer

SUMMARY_FILE = 'summary.json'


def output_paths(out_dir: str, rel: str) -> tuple[str, str]:
    """(drawing, JSON) paths of the input at ``rel`` (its path relative to the input folder):
    ``out_dir/vis/<rel>`` and ``out_dir/preds/<rel>.json``."""
    return os.path.join(out_dir, 'vis', rel), os.path.join(out_dir, 'preds', f'{rel}.json')


def _write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)


def infer_folder(inferencer: OVDetInferencer, source: str, out_dir: str, score_thr: float = 0.3,
                 batch_size: int = 1, settings: dict | None = None,
                 console: Console | None = None) -> dict:
    """Run ``inferencer`` on ``source`` (an image file, or a folder searched recursively for
    jpg/jpeg/png/bmp/webp in any case) and write under ``out_dir``: ``vis/<rel>`` (the image with
    boxes, names and scores), ``preds/<rel>.json`` (``bboxes`` x1, y1, x2, y2 in the pixels of the
    EXIF-upright image, ``labels``, ``label_names``, ``scores``, ``width``, ``height``) and
    ``summary.json`` (``settings``, vocabulary, processed and skipped images with reasons,
    timing), which is also returned. ``out_dir`` is not searched for images; a folder without
    images raises ``FileNotFoundError``.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    images, others = list_images(source, exclude=out_dir)
    root = source if os.path.isdir(source) else os.path.dirname(source)
    console = console or Console(stderr=True, soft_wrap=True)
    processed: list[dict] = []
    skipped: list[dict] = []
    start = time.perf_counter()

    def skip(rel: str, reason: str) -> None:
        skipped.append(dict(image=rel, reason=reason))
        console.print(f'[yellow]skipped[/yellow] {rel}: {reason}', markup=True, highlight=False)

    columns = (TextColumn('[progress.description]{task.description}'), BarColumn(),
               MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task('Inference', total=len(images))

        def run(batch: list[tuple[str, np.ndarray, dict]]) -> None:
            samples = inferencer.predict([data for _, _, data in batch], score_thr)
            for (rel, image, _), sample in zip(batch, samples):
                vis_path, json_path = output_paths(out_dir, rel)
                drawing = inferencer.draw(image, sample, score_thr)
                if not mmcv.imwrite(drawing[:, :, ::-1], vis_path):
                    raise OSError(f'could not write {vis_path}')
                result = dict(image=rel, height=image.shape[0], width=image.shape[1],
                              **inferencer.to_dict(sample))
                _write_json(json_path, result)
                processed.append(dict(image=rel, detections=len(result['scores'])))
            progress.advance(task, len(batch))

        batch: list[tuple[str, np.ndarray, dict]] = []
        for path in images:
            rel = os.path.relpath(path, root)
            try:
                image = inferencer.load_image(path)
            except ImageReadError as e:
                skip(rel, str(e).removeprefix(f'{path}: '))
                progress.advance(task)
                continue
            try:
                data = inferencer.prepare(image)
            except Exception as e:  # a transform failing on this image only (e.g. a 1-pixel side)
                skip(rel, f'the test pipeline failed on it ({type(e).__name__}: {str(e).strip()})')
                progress.advance(task)
                continue
            batch.append((rel, image, data))
            if len(batch) == batch_size:
                run(batch)
                batch = []
        if batch:
            run(batch)
    seconds = time.perf_counter() - start

    summary = dict(
        input=source, out_dir=out_dir, **(settings or {}),
        score_thr=score_thr, batch_size=batch_size,
        vocabulary=dict(num_classes=len(inferencer.vocabulary),
                        classes=list(inferencer.vocabulary)),
        num_images=len(images), num_processed=len(processed), num_skipped=len(skipped),
        num_detections=sum(p['detections'] for p in processed),
        processed=processed, skipped=skipped,
        other_files=[os.path.relpath(p, root) for p in others],
        timing=dict(model_load_s=round(inferencer.load_seconds, 3),
                    vocabulary_s=round(inferencer.vocabulary_seconds, 3),
                    text_passes=inferencer.model.class_embedder.num_text_passes,
                    inference_s=round(seconds, 3),
                    per_image_s=round(seconds / max(len(processed), 1), 4)))
    _write_json(os.path.join(out_dir, SUMMARY_FILE), summary)
    return summary
