"""Vocabularies (ordered class names) and the prompt templates that turn them into text.

A vocabulary is given as a sequence of names, the name of a known vocabulary (``'lvis_v1'``: the
1203 LVIS v1 classes from ``mmdet.datasets.LVISV1Dataset.METAINFO``), a text file with one name a
line, or a comma-separated string. :func:`load_vocabulary` returns it as a tuple after checking
that it is non-empty, that no entry is empty and that no name repeats.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

#: Prompts each class name is put into; its embedding is the normalised mean over them.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    'a photo of a {}.',
    'a photo of the {}.',
    'a photo of one {}.',
    'a cropped photo of a {}.',
    'a close-up photo of a {}.',
    'a photo of a small {}.',
    'a photo of a large {}.',
    'there is a {} in the scene.',
)


def lvis_v1_classes() -> tuple[str, ...]:
    """The 1203 LVIS v1 class names, in category-id order."""
    from mmdet.datasets import LVISV1Dataset
    return tuple(LVISV1Dataset.METAINFO['classes'])


KNOWN_VOCABULARIES = {'lvis_v1': lvis_v1_classes}


def check_vocabulary(names: Sequence[str], source: str = 'vocabulary') -> tuple[str, ...]:
    """Strip each name; raise ``ValueError`` on an empty vocabulary, empty or repeated entries."""
    if isinstance(names, str):
        raise TypeError(f'{source}: expected a sequence of class names, got the string {names!r} '
                        '(use load_vocabulary for files and comma-separated strings)')
    out: list[str] = []
    first_seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f'{source}: entry {i} is {type(name).__name__} {name!r}, not a string')
        name = name.strip()
        if not name:
            raise ValueError(f'{source}: entry {i} is empty')
        if name in first_seen:
            raise ValueError(f'{source}: class name {name!r} repeats (entries {first_seen[name]} '
                             f'and {i})')
        first_seen[name] = i
        out.append(name)
    if not out:
        raise ValueError(f'{source}: the vocabulary is empty')
    return tuple(out)


def _read_vocabulary_file(path: str) -> tuple[str, ...]:
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f'{path}:{lineno}: empty class name')
    return check_vocabulary(lines, source=path)


def load_vocabulary(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Class names from a sequence, a known vocabulary name, a text file or a comma-separated
    string (tried in that order for strings)."""
    if not isinstance(spec, str):
        return check_vocabulary(spec)
    if spec in KNOWN_VOCABULARIES:
        return KNOWN_VOCABULARIES[spec]()
    if os.path.isfile(spec):
        return _read_vocabulary_file(spec)
    if spec.endswith('.txt') or os.sep in spec:
        raise FileNotFoundError(f'vocabulary file {spec!r} does not exist')
    return check_vocabulary(spec.split(','), source=f'vocabulary {spec!r}')


def prompt_name(name: str) -> str:
    """How a class name reads inside a prompt: LVIS's underscores become spaces."""
    return ' '.join(name.replace('_', ' ').split())


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Each template must hold exactly one ``{}`` for the class name."""
    if isinstance(templates, str) or not templates:
        raise ValueError(f'templates must be a non-empty sequence of strings, got {templates!r}')
    for i, t in enumerate(templates):
        if not isinstance(t, str) or t.count('{}') != 1:
            raise ValueError(f'template {i} ({t!r}) must contain exactly one "{{}}"')
    return tuple(templates)
