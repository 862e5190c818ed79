"""Open-vocabulary detection on images: MMDetection's ``DetInferencer`` for a
:class:`~mammut_det.detection.MaMMUTDetector`, whose vocabulary can change between calls."""
from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from mmdet.apis import DetInferencer
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.logging import print_log
from mmengine.registry import MODELS
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from ..detection import MaMMUTDetector
from ..engine import restore_tokenizers
from .checkpoint import check_state_dict, checkpoint_state_dict, read_checkpoint
from .image_io import ALPHA_BACKGROUND, ImageReadError, list_images, read_image

ImageInput = str | os.PathLike | np.ndarray
ON_ERROR = ('skip', 'raise')


@dataclass
class InferenceResult:
    """What :meth:`OVDetInferencer.iter_predict` gives for the input at ``index``: the image as
    read (BGR uint8 [H, W, 3]) and its ``sample`` (``pred_instances`` above the threshold), or,
    for an input that could not be read or prepared, ``error`` (why, without the file name)."""

    index: int
    image: np.ndarray | None = None
    sample: DetDataSample | None = None
    error: str | None = None


def progress_bar(console: Console | None = None, disable: bool = False) -> Progress:
    """A rich progress bar (description, bar, done/total, time left) on ``console`` (default:
    stderr), as MMDetection's inferencers draw."""
    columns = (TextColumn('[progress.description]{task.description}'), BarColumn(),
               MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console or Console(stderr=True), disable=disable)


def describe_input(item: ImageInput, index: int) -> str:
    """How messages name an input: its path, or ``inputs[i]`` for an array."""
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else f'inputs[{index}]'


def as_bgr(image: np.ndarray) -> np.ndarray:
    """An image array (uint8 or uint16; [H, W], [H, W, 1], BGR [H, W, 3] or BGRA [H, W, 4])
    -> uint8 BGR [H, W, 3]. 16-bit values are scaled down by 257; transparent pixels are
    composited onto ``ALPHA_BACKGROUND`` as :func:`read_image` does."""
    if image.dtype == np.uint16:
        image = np.rint(image / 257.0).astype(np.uint8)
    if image.dtype != np.uint8:
        raise TypeError(f'image arrays must be uint8 or uint16, got {image.dtype}')
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f'image arrays must be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got '
                         f'shape {image.shape}')
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:].astype(np.float32) / 255.0
        background = np.array(ALPHA_BACKGROUND[::-1], np.float32)
        image = np.rint(image[:, :, :3] * alpha + background * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(image)


class OVDetInferencer(DetInferencer):
    """Keeps a MaMMUT open-vocabulary detector and its class embeddings loaded between calls.

    ``inferencer(images, score_thr=0.3)['predictions']`` holds, per image, ``bboxes`` (x1, y1,
    x2, y2 in the pixels of the image as given, EXIF orientation applied), ``labels`` (indices
    into the vocabulary), ``label_names`` and ``scores``. :meth:`set_vocabulary` swaps the classes
    without reloading the model; the text embeddings of a vocabulary seen before come from the
    class embedder's cache.

    Args:
        model: detector config file or :class:`~mmengine.config.Config`.
        weights: detector checkpoint (from ``tools/train.py``); the checkpoint of another model
            raises :class:`~mammut_det.apis.CheckpointMismatchError`.
        device: ``'cpu'``, ``'cuda:0'``, ...; ``None`` picks the available one.
        vocabulary: class names (anything :func:`~mammut_det.detection.load_vocabulary` takes:
            a sequence, ``'lvis_v1'``, a text file or a comma-separated string); ``None`` keeps
            the classes saved with the checkpoint (or those of the config).
        palette: box colours of the drawings (an mmdet palette name or a list of RGB tuples).
        cfg_options: overrides merged into the config (e.g. the tokenizer path).
        show_progress: draw a progress bar (on stderr) in :meth:`__call__`, as
            ``DetInferencer`` does.
    """

    def __init__(self, model: str | Config, weights: str, device: str | None = None,
                 vocabulary: str | Sequence[str] | None = None, palette: str | list = 'random',
                 cfg_options: dict | None = None, show_progress: bool = True) -> None:
        if isinstance(model, str):
            self.config_name = model
            cfg = Config.fromfile(model)
        else:
            self.config_name = model.filename or 'the given config'
            cfg = copy.deepcopy(model)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.weights = weights
        start = time.perf_counter()
        super().__init__(model=cfg, weights=weights, device=device,
                         scope=cfg.get('default_scope', 'mmdet'), palette=palette,
                         show_progress=show_progress)
        #: seconds spent building the model and loading the checkpoint
        self.load_seconds = time.perf_counter() - start
        self.vocabulary_seconds = 0.0
        self.set_vocabulary(self.model.class_names if vocabulary is None else vocabulary)

    # -- construction (BaseInferencer hooks) ------------------------------------------------------
    def _init_model(self, cfg: ConfigDict, weights: str, device: str = 'cpu') -> nn.Module:
        checkpoint = read_checkpoint(weights)
        restore_tokenizers(cfg.model, checkpoint.get('meta') or {})
        model = MODELS.build(cfg.model)
        if not isinstance(model, MaMMUTDetector):
            raise ValueError(f'{self.config_name}: model.type builds a {type(model).__name__}; '
                            'OVDetInferencer needs a MaMMUTDetector config (configs/detection)')
        model.cfg = cfg
        self._load_weights_to_model(model, checkpoint, cfg)
        return model.to(device).eval()

    def _load_weights_to_model(self, model: MaMMUTDetector, checkpoint: dict,
                               cfg: ConfigDict) -> None:
        """Strictly checked weights (one clear error for another model's checkpoint); the
        vocabulary saved with them, and their seen classes."""
        state = model.drop_unused_tower(checkpoint_state_dict(checkpoint, self.weights))
        check_state_dict(model, state, self.weights,
                         expected=f'the {type(model).__name__} of {self.config_name}')
        model.load_state_dict(state, strict=False)
        meta = {k.lower(): v for k, v in checkpoint.get('meta', {}).get('dataset_meta', {}).items()}
        seen = meta.get('base_classes') if model.seen_classes is None else None
        if meta.get('classes'):
            model.set_vocabulary(meta['classes'], seen_classes=seen, lazy=True)

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        """The config's test pipeline on decoded arrays: the loader becomes
        ``LoadImageFromNDArray``, annotation loading and ``img_id`` go."""
        steps, has_loader = [], False
        for step in copy.deepcopy(get_test_pipeline_cfg(cfg)):
            kind = step['type'] if isinstance(step['type'], str) else step['type'].__name__
            kind = kind.split('.')[-1]
            if kind.startswith('LoadImage') or kind == 'InferencerLoader':
                step, has_loader = dict(type='mmdet.LoadImageFromNDArray'), True
            elif kind.startswith('Load') and 'Annotation' in kind:
                continue
            elif 'meta_keys' in step:
                step['meta_keys'] = tuple(k for k in step['meta_keys'] if k != 'img_id')
            steps.append(step)
        if not has_loader:
            raise ValueError(f'{self.config_name}: the test pipeline has no LoadImageFromFile')
        return Compose(steps)

    def _init_visualizer(self, cfg: ConfigDict):
        """The config's visualizer (default ``DetLocalVisualizer``), drawing in memory only."""
        vis_cfg = dict(cfg.get('visualizer') or dict(type='DetLocalVisualizer'))
        vis_cfg.update(vis_backends=None, save_dir=None,
                       name=f'ov_det_inferencer_{id(self)}_{time.time_ns()}')
        return VISUALIZERS.build(vis_cfg)

    # -- vocabulary -------------------------------------------------------------------------------
    @property
    def vocabulary(self) -> tuple[str, ...]:
        """The class names that labels index."""
        return self.model.class_names

    def set_vocabulary(self, vocabulary: str | Sequence[str]) -> tuple[str, ...]:
        """Detect ``vocabulary`` from now on; its class embeddings are computed now (or taken from
        the embedder's cache; ``vocabulary_seconds`` says how long that took). Empty or repeated
        names raise ``ValueError`` naming the entry."""
        start = time.perf_counter()
        self.model.set_vocabulary(vocabulary)
        self.vocabulary_seconds = time.perf_counter() - start
        self.visualizer.dataset_meta = dict(classes=self.model.class_names, palette=self.palette)
        return self.model.class_names

    # -- inference --------------------------------------------------------------------------------
    @staticmethod
    def load_image(image: ImageInput) -> np.ndarray:
        """A path (read with EXIF orientation, any mode or bit depth) or an array -> uint8 BGR
        [H, W, 3]; an unreadable file raises :class:`~mammut_det.apis.ImageReadError`."""
        if isinstance(image, np.ndarray):
            return as_bgr(image)
        if isinstance(image, (str, os.PathLike)):
            return read_image(os.fspath(image))
        raise TypeError(f'expected an image path or array, got {type(image).__name__}')

    def prepare(self, image: np.ndarray) -> dict:
        """The test pipeline on a BGR image: ``inputs`` [3, h, w] and a ``data_samples``."""
        return self.pipeline(dict(img=image))

    def predict(self, prepared: Sequence[dict], score_thr: float = 0.3) -> list[DetDataSample]:
        """One batch of :meth:`prepare` outputs -> samples whose ``pred_instances`` keep the
        boxes scoring above ``score_thr`` (the detector clips them to the image)."""
        samples = self.forward(self.collate_fn(list(prepared)))
        for sample in samples:
            inst = sample.pred_instances
            sample.pred_instances = inst[inst.scores > score_thr]
        return samples

    def to_dict(self, sample: DetDataSample) -> dict:
        """``bboxes`` [[x1, y1, x2, y2]], ``labels``, ``label_names`` and ``scores`` as lists."""
        inst = sample.pred_instances.cpu().numpy()
        labels = inst.labels.tolist()
        return dict(bboxes=inst.bboxes.tolist(), labels=labels,
                    label_names=[self.vocabulary[i] for i in labels], scores=inst.scores.tolist())

    def draw(self, image: np.ndarray, sample: DetDataSample, score_thr: float = 0.3
             ) -> np.ndarray:
        """RGB [H, W, 3] drawing of ``sample``'s boxes, names and scores on BGR ``image``."""
        with warnings.catch_warnings():
            # mmengine warns when a box touches the right or bottom edge (x2 == width is valid)
            # or a label runs past it; both are drawn clipped
            warnings.filterwarnings('ignore', r'Warning: The \w+ is out of bounds', UserWarning)
            self.visualizer.add_datasample('image', image[:, :, ::-1], sample, draw_gt=False,
                                           pred_score_thr=score_thr)
        return self.visualizer.get_image()

    def iter_predict(self, inputs: Iterable[ImageInput], score_thr: float = 0.3,
                     batch_size: int = 1) -> Iterator[InferenceResult]:
        """One :class:`InferenceResult` per input, in input order, ``batch_size`` images per
        forward pass (inputs are read lazily, so ``inputs`` may be a generator, e.g. video
        frames). An unreadable file or an image the test pipeline fails on gives a result with
        ``error`` and takes no place in a batch; the others go on."""
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        pending: list[tuple[InferenceResult, dict | None]] = []
        ready = 0
        for index, item in enumerate(inputs):
            result, data = InferenceResult(index), None
            try:
                result.image = self.load_image(item)
            except ImageReadError as e:
                result.error = str(e).removeprefix(f'{describe_input(item, index)}: ')
            else:
                try:
                    data = self.prepare(result.image)
                    ready += 1
                except Exception as e:  # a transform failing on this image only (1-pixel side)
                    result.error = (f'the test pipeline failed on it ({type(e).__name__}: '
                                    f'{str(e).strip()})')
            pending.append((result, data))
            if ready == batch_size:
                yield from self._run_batch(pending, score_thr)
                pending, ready = [], 0
        yield from self._run_batch(pending, score_thr)

    def _run_batch(self, pending: list[tuple[InferenceResult, dict | None]],
                   score_thr: float) -> list[InferenceResult]:
        prepared = [data for result, data in pending if result.error is None]
        samples = iter(self.predict(prepared, score_thr) if prepared else ())
        for result, _ in pending:
            if result.error is None:
                result.sample = next(samples)
        return [result for result, _ in pending]

    def _inputs_to_list(self, inputs: ImageInput | Sequence[ImageInput]) -> list:
        if isinstance(inputs, (str, os.PathLike)) and os.path.isdir(inputs):
            return list_images(os.fspath(inputs))[0]
        if isinstance(inputs, (str, os.PathLike, np.ndarray)):
            return [inputs]
        return list(inputs)

    def __call__(self, inputs: ImageInput | Sequence[ImageInput], score_thr: float = 0.3,
                 batch_size: int = 1, return_vis: bool = False,
                 return_datasamples: bool = False, on_error: str = 'skip') -> dict:
        """Detect the vocabulary in ``inputs`` (a path, a folder, an array or a sequence of
        them), ``batch_size`` images per forward pass, with a progress bar when
        ``show_progress``.

        Returns:
            ``predictions``: per input, in input order, a dict (see :meth:`to_dict`) or, with
            ``return_datasamples``, a ``DetDataSample``; ``None`` for a skipped input.
            ``visualization``: per input an RGB drawing (``None`` if skipped) with
            ``return_vis``, else empty. ``skipped``: ``index``, ``input`` (the path, or
            ``inputs[i]``) and ``reason`` of each input that could not be read or prepared;
            each is also logged as a warning. With ``on_error='raise'`` the first one raises
            :class:`~mammut_det.apis.ImageReadError` naming it instead.
        """
        if on_error not in ON_ERROR:
            raise ValueError(f'on_error must be one of {ON_ERROR}, got {on_error!r}')
        items = self._inputs_to_list(inputs)
        predictions, visualization, skipped = [], [], []
        with progress_bar(disable=not self.show_progress) as progress:
            task = progress.add_task('Inference', total=len(items))
            for result in self.iter_predict(items, score_thr, batch_size):
                progress.advance(task)
                if result.error is None:
                    sample = result.sample
                    predictions.append(sample if return_datasamples else self.to_dict(sample))
                    if return_vis:
                        visualization.append(self.draw(result.image, sample, score_thr))
                    continue
                name = describe_input(items[result.index], result.index)
                if on_error == 'raise':
                    raise ImageReadError(f'{name}: {result.error}')
                print_log(f'skipped {name}: {result.error}', logger='current',
                          level=logging.WARNING)
                skipped.append(dict(index=result.index, input=name, reason=result.error))
                predictions.append(None)
                visualization += [None] if return_vis else []
        return dict(predictions=predictions, visualization=visualization, skipped=skipped)
