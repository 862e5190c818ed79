"""Shared fixtures: a tiny MaMMUT, a tokenizer trained on a handful of captions, logged messages,
and a tiny randomly initialised open-vocabulary detector saved as a checkpoint."""
from __future__ import annotations

import copy
import logging
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import save_checkpoint

import mammut_det  # noqa: F401  (registers every module)
from mammut_det.detection import TOY_LVIS_CLASSES, make_toy_lvis
from mammut_det.text import BPETokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DETECTOR_CONFIG = os.path.join(ROOT, 'configs/detection/mammut-tiny_ovd_toy-lvis.py')
#: the classes the tiny detector checkpoint says it was trained on
DETECTOR_SEEN = TOY_LVIS_CLASSES[:4]

CAPTIONS = [
    'a red circle', 'a blue square', 'a green triangle on the left', 'two yellow stars',
    'a small purple cross next to a big red circle', 'an orange square and a blue circle',
]


@pytest.fixture(scope='session')
def tokenizer_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp('tok') / 'tokenizer.json')
    BPETokenizer.train(CAPTIONS * 4, vocab_size=300, save_path=path, context_length=16)
    return path


def tiny_model_cfg(tokenizer_path: str) -> dict:
    """Config dict of a tiny MaMMUT (32 px images, 2+4 layers) on the test tokenizer."""
    return copy.deepcopy(dict(
        type='MaMMUT',
        vision=dict(type='MaMMUTViT', img_size=32, patch_size=8, width=32, depth=2,
                    num_heads=2, embed_dim=24, cpe=dict(full_size=128)),
        text=dict(type='TextDecoder', vocab_size=300, context_length=16, width=32, depth=4,
                  num_heads=2, embed_dim=24, cross_attn_every=2),
        tokenizer=dict(type='BPETokenizer', path=tokenizer_path, context_length=16)))


@pytest.fixture
def tiny_cfg(tokenizer_path) -> dict:
    """Config dict of a tiny MaMMUT (32 px images, 2+4 layers) on the test tokenizer."""
    return tiny_model_cfg(tokenizer_path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` are skipped without a CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device (torch.cuda.is_available() is False)')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine run far faster single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def log_records():
    """Messages logged through MMEngine's current logger during the test."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture(scope='session')
def tiny_detector(tmp_path_factory) -> dict:
    """A randomly initialised tiny detector (``configs/detection/mammut-tiny_ovd_toy-lvis.py``)
    saved with the toy LVIS classes (the first four as seen): ``config``, ``checkpoint``,
    ``tokenizer``, ``options`` (config overrides for the tokenizer and the embedding cache),
    ``cli_options`` (the same as ``--cfg-options`` arguments) and ``tmp`` (its folder)."""
    tmp = tmp_path_factory.mktemp('detector')
    tokenizer = make_toy_lvis(str(tmp / 'toy'), num_train=1, num_val=1)['tokenizer']
    options = {'model.class_embedder.tokenizer.path': tokenizer,
               'model.class_embedder.cache_dir': str(tmp / 'embeddings')}
    cfg = Config.fromfile(DETECTOR_CONFIG)
    cfg.merge_from_dict(options)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.set_vocabulary(TOY_LVIS_CLASSES, seen_classes=DETECTOR_SEEN, lazy=True)
    checkpoint = str(tmp / 'detector.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(
        dataset_meta=dict(classes=TOY_LVIS_CLASSES, base_classes=DETECTOR_SEEN))), checkpoint)
    cli_options = ['--cfg-options', *(f'{k}={v}' for k, v in options.items())]
    return dict(config=DETECTOR_CONFIG, checkpoint=checkpoint, tokenizer=tokenizer,
                options=options, cli_options=cli_options, tmp=tmp)
