"""A web page for open-vocabulary detection (Gradio): upload an image, type class names, move the
score threshold, see the boxes drawn and listed. The model stays loaded; the class embeddings of
each vocabulary are computed once (the class embedder caches them) and the last image's
detections are kept, so moving the threshold does not run the model again.

Gradio is an optional dependency: ``pip install -e .[demo]``.
"""
from __future__ import annotations

import hashlib
import os
import threading

import numpy as np

from ..detection import check_vocabulary
from .inferencer import OVDetInferencer, as_bgr

#: ``elem_id`` of the page's inputs and outputs (what a browser test looks for)
ELEMENT_IDS = dict(image='input_image', texts='class_names', score_thr='score_thr',
                   button='detect', drawing='drawing', boxes='boxes', status='status')


class DetectionSession:
    """Detection for the page: keeps one inferencer, switches its vocabulary when the names
    change, and remembers the detections (all scores) of the last image and vocabulary.

    Thread-safe: requests are served one at a time.
    """

    def __init__(self, inferencer: OVDetInferencer) -> None:
        self.inferencer = inferencer
        self._lock = threading.Lock()
        self._last: tuple[tuple, object] | None = None  # (key, DetDataSample at threshold 0)

    def detect(self, rgb: np.ndarray, texts: str, score_thr: float
               ) -> tuple[np.ndarray, list[dict], str]:
        """RGB image [H, W, 3] (as the page sends it), comma-separated class names and a score
        threshold -> (RGB drawing, boxes above the threshold as ``label``, ``score``, ``box``
        [x1, y1, x2, y2] in image pixels, a status line). Bad class names raise ``ValueError``
        naming the entry."""
        names = check_vocabulary(texts.split(','), source='class names')
        image = as_bgr(np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]))
        inf = self.inferencer
        with self._lock:
            passes = inf.model.class_embedder.num_text_passes
            if names != inf.vocabulary:
                inf.set_vocabulary(names)
            key = (hashlib.sha1(image.tobytes()).hexdigest(), image.shape, names)
            if self._last is None or self._last[0] != key:
                result = next(inf.iter_predict([image], score_thr=-1.0))
                if result.error is not None:
                    raise ValueError(f'the image cannot be used: {result.error}')
                self._last = (key, result.sample)
            sample = self._last[1].clone()
            inst = sample.pred_instances
            sample.pred_instances = inst[inst.scores > score_thr]
            drawing = inf.draw(image, sample, score_thr)
            pred = inf.to_dict(sample)
            boxes = [dict(label=label, score=round(score, 4), box=[round(v, 2) for v in box])
                     for box, label, score in zip(pred['bboxes'], pred['label_names'],
                                                  pred['scores'])]
            cached = inf.model.class_embedder.num_text_passes == passes
        status = (f'{len(boxes)} boxes scoring above {score_thr:g} for {", ".join(names)} '
                  f'({"embeddings from the cache" if cached else "embeddings computed"})')
        return drawing, boxes, status


def build_demo(inferencer: OVDetInferencer, texts: str = '', score_thr: float = 0.3,
               title: str = 'MaMMUT open-vocabulary detection'):
    """The Gradio page (a ``gr.Blocks``; call ``.launch()``) serving ``inferencer``: an image
    upload, a text box of comma-separated class names (``texts`` at first), a score threshold
    slider (``score_thr`` at first), a Detect button, and as outputs the drawing, the boxes as
    JSON and a status line. The button or Enter in the names detects; a new threshold redraws
    (once there is an image)."""
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # no calls home at launch
    import gradio as gr

    session = DetectionSession(inferencer)

    def run(image, names, thr):
        if image is None:
            raise gr.Error('Upload an image first.')
        try:
            return session.detect(image, names or '', float(thr))
        except ValueError as e:
            raise gr.Error(str(e)) from e

    def rethreshold(image, names, thr):
        return gr.skip() if image is None else run(image, names, thr)

    ids = ELEMENT_IDS
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f'## {title}\nUpload an image, type class names separated by commas, '
                    'and choose the score threshold.')
        with gr.Row():
            with gr.Column():
                image = gr.Image(type='numpy', image_mode='RGB', label='Image',
                                 elem_id=ids['image'])
                names = gr.Textbox(value=texts, label='Class names (comma-separated)',
                                   placeholder='red square, cat, person', elem_id=ids['texts'])
                thr = gr.Slider(0.0, 1.0, value=score_thr, step=0.01, label='Score threshold',
                                elem_id=ids['score_thr'])
                button = gr.Button('Detect', variant='primary', elem_id=ids['button'])
            with gr.Column():
                drawing = gr.Image(type='numpy', label='Detections', interactive=False,
                                   elem_id=ids['drawing'])
                status = gr.Markdown(elem_id=ids['status'])
                boxes = gr.JSON(label='Boxes', elem_id=ids['boxes'])
        inputs, outputs = [image, names, thr], [drawing, boxes, status]
        button.click(run, inputs, outputs)
        names.submit(run, inputs, outputs)
        # the last image's detections are kept: a new threshold only filters and redraws
        thr.change(rethreshold, inputs, outputs, trigger_mode='always_last')
    return demo
