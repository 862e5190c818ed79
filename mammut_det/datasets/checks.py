"""Checked loading of annotation files: JSON entries with their line numbers, and the loop that
keeps good samples and raises on (or skips and counts) bad ones, with the error style of
:class:`~mammut_det.datasets.CaptionDataset`.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mmengine.fileio import exists
from mmengine.logging import print_log

from .caption import BadSample, MissingImage

ON_BAD_SAMPLE = ('error', 'skip')


def check_on_bad_sample(owner: str, value: str) -> str:
    """``value`` if it is ``'error'`` or ``'skip'``, else a ValueError naming ``owner``."""
    if value not in ON_BAD_SAMPLE:
        raise ValueError(f'{owner}: on_bad_sample must be "error" or "skip", got {value!r}')
    return value


def load_json(text: str, path: str) -> Any:
    """Parse ``text`` read from ``path``; a syntax error names the file and line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}:{err.lineno}: malformed JSON ({err.msg})') from None


def iter_json_array(text: str, path: str) -> Iterator[tuple[int, Any]]:
    """The entries of the JSON array ``text`` (read from ``path``), each with the 1-based line on
    which it starts, so that errors can name a line whether the file is one line or indented."""
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if text[pos:pos + 1] != '[':
        raise ValueError(f'{path}: expected a JSON list of entries')
    pos = _skip_space(text, pos + 1)
    if text[pos:pos + 1] == ']':
        return
    while True:
        line = text.count('\n', 0, pos) + 1
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}:{err.lineno}: malformed JSON ({err.msg})') from None
        yield line, entry
        pos = _skip_space(text, pos)
        if text[pos:pos + 1] == ']':
            return
        if text[pos:pos + 1] != ',':
            line = text.count('\n', 0, pos) + 1
            raise ValueError(f'{path}:{line}: malformed JSON (expected "," or "]")')
        pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in ' \t\r\n':
        pos += 1
    return pos


def require_keys(where: str, record: Any, keys: Iterable[str]) -> dict:
    """``record`` if it is an object holding every key in ``keys`` (not null), else BadSample."""
    if not isinstance(record, dict):
        raise BadSample(f'{where}: expected an object, got {type(record).__name__}')
    for key in keys:
        if record.get(key) is None:
            raise BadSample(f'{where}: missing key {key!r}')
    return record


def require_text(where: str, what: str, value: Any) -> str:
    """``value`` stripped if it is a non-empty string, else BadSample naming ``what``."""
    if not isinstance(value, str) or not value.strip():
        raise BadSample(f'{where}: {what} must be a non-empty string, got {value!r}')
    return value.strip()


def require_file(where: str, path: str, backend_args: dict | None = None,
                 what: str = 'image') -> str:
    """``path`` if the file exists, else :class:`MissingImage` naming ``where`` and the path."""
    if not exists(path, backend_args):
        raise MissingImage(f'{where}: {what} file not found: {path}')
    return path


def gather_samples(candidates: Iterable[Callable[[], dict]], on_bad_sample: str,
                   source: str) -> tuple[list[dict], int]:
    """Build a data info by calling each candidate ``make_info``.

    A :class:`BadSample` or :class:`MissingImage` raised by ``make_info`` is re-raised
    (``on_bad_sample='error'``) or logged as a warning and dropped (``'skip'``); the skips are
    counted in one warning at the end. Returns the infos and the number skipped; no usable sample
    at all is an error naming ``source``.
    """
    infos, skipped, total = [], 0, 0
    for make_info in candidates:
        total += 1
        try:
            infos.append(make_info())
        except (BadSample, MissingImage) as err:
            if on_bad_sample == 'error':
                raise
            skipped += 1
            print_log(f'skipping bad sample: {err}', logger='current', level=logging.WARNING)
    if skipped:
        print_log(f'{source}: kept {len(infos)} of {total} samples, skipped {skipped} bad ones',
                  logger='current', level=logging.WARNING)
    if not infos:
        raise ValueError(f'{source}: no usable samples ({total} read, {skipped} skipped)')
    return infos, skipped
