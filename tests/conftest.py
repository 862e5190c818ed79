"""Shared fixtures: a tiny MaMMUT, a tokenizer trained on a handful of captions, logged messages."""
from __future__ import annotations

import copy
import logging

import pytest
import torch
from mmengine.logging import MMLogger

import mammut_det  # noqa: F401  (registers every module)
from mammut_det.text import BPETokenizer

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
