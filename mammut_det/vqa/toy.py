"""Toy VQA and VideoQA sets a tiny model can learn, in the released layouts, and the
majority-answer baseline.

:func:`make_toy_vqa` writes shapes scenes (:func:`~mammut_det.datasets.toy_scenes.
draw_shapes_scene`) with questions that have exactly one right answer, in the VQAv2 layout::

    images/{split}/toy_{split}_000000000001.png
    v2_OpenEnded_toy_{split}_questions.json   {"questions": [{"image_id", "question",
                                                "question_id"}]}
    v2_toy_{split}_annotations.json           {"annotations": [{"question_id", "image_id",
                                                "answers": [10 x {"answer",
                                                "answer_confidence", "answer_id"}],
                                                "multiple_choice_answer", "answer_type",
                                                "question_type"}]}
    toy_{split}_scenes.json                   {"<image_id>": [{"shape", "colour", "size", "center",
                                                "radius", "angle"}]}, what each image shows
    tokenizer.json, manifest.json

Questions (question type / answer type): "what colour is the star?" (only when the scene has one
star; "what colour is the" / "other"), "what shape is the red object?" ("what shape is the" /
"other"), "how many circles are there?" ("how many" / "number", 0 included), "is there a blue
square?" ("is there a" / "yes/no", half of them true). The 10 human answers of a question agree
for about half of the questions; for the rest each answer is, with some probability, a wrong
answer of the same kind or the right one written differently ("two" for "2", "Red", "a star").

:func:`make_toy_videoqa` writes moving-dot clips (:func:`~mammut_det.datasets.toy_scenes.
named_dot_clip`) with "which way does the dot move?" ("left"/"right", needs motion) and "what
colour is the dot?" (one frame is enough) in the MSRVTT-QA layout::

    videos/video0.mp4 ...
    train_qa.json, val_qa.json   [{"video_id": "video0", "question", "answer", "question_id"}]
    tokenizer.json, manifest.json

Everything is drawn from ``np.random.default_rng([seed, split, index])``.
"""
from __future__ import annotations

import os
import os.path as osp
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict

import numpy as np
from mmengine.fileio import load

from ..datasets.toy_captions import COLOURS, ToyObject
from ..datasets.toy_scenes import (
    draw_shapes_scene,
    finish,
    named_dot_clip,
    needs_writing,
    write_image,
    write_json,
)
from ..video.toy import write_mp4
from .answers import NUMBER_WORDS, ScoredQuestion, vqa_scores
from .datasets import majority_answer

TOY_VERSION = 1
SPLITS = {'train': 0, 'val': 1}
DEFAULT_SHAPES = ('circle', 'square', 'triangle', 'star')
DEFAULT_COLOURS = ('red', 'green', 'blue', 'yellow')
#: '2' -> 'two', ..., how some toy humans write numbers
DIGIT_WORDS = {digit: word for word, digit in NUMBER_WORDS.items() if word != 'none'}
DIRECTIONS = ('left', 'right')
#: the toy VideoQA questions and the clip field that answers each
VIDEO_QUESTIONS = (('which way does the dot move?', 'direction'),
                   ('what colour is the dot?', 'colour'))


def plural(word: str) -> str:
    """English plural of a shape name ("cross" -> "crosses")."""
    return word + ('es' if word.endswith(('s', 'x', 'ch', 'sh')) else 's')


#: question type -> template of its question (``str.format`` names: shape, shapes (the plural),
#: colour) and answer type
QUESTION_KINDS = {
    'what colour is the': ('what colour is the {shape}?', 'other'),
    'what shape is the': ('what shape is the {colour} object?', 'other'),
    'how many': ('how many {shapes} are there?', 'number'),
    'is there a': ('is there a {colour} {shape}?', 'yes/no'),
}


def _ask(kind: str, answer: str, colour: str = '', shape: str = '') -> tuple[str, str, str]:
    template, answer_type = QUESTION_KINDS[kind]
    return template.format(colour=colour, shape=shape, shapes=plural(shape)), answer, answer_type


def scene_questions(objs: list[ToyObject], colours: Sequence[str], shapes: Sequence[str],
                    rng: np.random.Generator) -> dict[str, tuple[str, str, str]]:
    """One question of each kind the scene can answer uniquely: question type -> (question,
    answer, answer type). A colour is asked about only for a shape the scene holds once, a shape
    only for a colour it holds once."""
    counts = Counter(o.shape for o in objs)
    colour_counts = Counter(o.colour for o in objs)
    out = {}
    unique = [o for o in objs if counts[o.shape] == 1]
    if unique:
        o = unique[int(rng.integers(len(unique)))]
        out['what colour is the'] = _ask('what colour is the', o.colour, shape=o.shape)
    unique = [o for o in objs if colour_counts[o.colour] == 1]
    if unique:
        o = unique[int(rng.integers(len(unique)))]
        out['what shape is the'] = _ask('what shape is the', o.shape, colour=o.colour)
    shape = str(rng.choice(list(shapes)))
    out['how many'] = _ask('how many', str(counts[shape]), shape=shape)
    present = {(o.colour, o.shape) for o in objs}
    absent = sorted({(c, s) for c in colours for s in shapes} - present)
    pool = sorted(present) if rng.random() < 0.5 or not absent else absent
    colour, shape = pool[int(rng.integers(len(pool)))]
    out['is there a'] = _ask('is there a', 'yes' if (colour, shape) in present else 'no',
                             colour, shape)
    return out


def question_vocabulary(colours: Sequence[str], shapes: Sequence[str],
                        kinds: Sequence[str] = tuple(QUESTION_KINDS)) -> list[str]:
    """Every question of ``kinds`` that scenes of ``colours`` and ``shapes`` can be asked, and
    every answer word (colours, shapes, yes, no; counts are digits), for training a tokenizer
    that encodes them."""
    out = []
    for kind in kinds:
        pairs = ([(c, s) for c in colours for s in shapes] if kind == 'is there a'
                 else [('', s) for s in shapes] if kind != 'what shape is the'
                 else [(c, '') for c in colours])
        out += [_ask(kind, '', c, s)[0] for c, s in pairs]
    return out + [*colours, *shapes, 'yes', 'no']


def human_answers(answer: str, wrong: Sequence[str], rng: np.random.Generator,
                  noise: float) -> list[str]:
    """Ten answers to a question whose right answer is ``answer``: all equal for about half the
    questions; otherwise each is, with probability ``noise``, one of ``wrong`` and, with
    probability ``noise``, ``answer`` written differently."""
    if rng.random() < 0.5:
        return [answer] * 10
    out = []
    for _ in range(10):
        r = rng.random()
        if r < noise and wrong:
            out.append(str(rng.choice(list(wrong))))
        elif r < 2 * noise:
            out.append(_variant(answer, rng))
        else:
            out.append(answer)
    return out


def _variant(answer: str, rng: np.random.Generator) -> str:
    if answer in DIGIT_WORDS:
        return DIGIT_WORDS[answer]
    forms = [answer.capitalize(), f'{answer}.', f'a {answer}' if answer not in ('yes', 'no')
             else answer.upper()]
    return forms[int(rng.integers(len(forms)))]


def _answer_choices(colours: Sequence[str], shapes: Sequence[str],
                    max_objects: int) -> dict[str, list[str]]:
    return {'what colour is the': list(colours), 'what shape is the': list(shapes),
            'how many': [str(n) for n in range(max_objects + 1)], 'is there a': ['yes', 'no']}


def _vqa_files(split: str) -> tuple[str, str, str]:
    return (f'v2_OpenEnded_toy_{split}_questions.json', f'v2_toy_{split}_annotations.json',
            f'toy_{split}_scenes.json')


#: the questions, annotations and scenes files of a toy VQA set, both splits
VQA_FILES = [n for s in SPLITS for n in _vqa_files(s)]


def toy_image_name(split: str, image_id: int) -> str:
    """Path of a toy VQA image relative to the output folder."""
    return f'images/{split}/toy_{split}_{image_id:012d}.png'


def make_toy_vqa(out_dir: str, num_train: int = 1000, num_val: int = 200, size: int = 64,
                 seed: int = 0, colours: Sequence[str] = DEFAULT_COLOURS,
                 shapes: Sequence[str] = DEFAULT_SHAPES, max_objects: int = 3,
                 questions_per_image: int = 4, noise: float = 0.15,
                 palette: dict[str, tuple[int, int, int]] | None = None,
                 vocab_size: int = 512, context_length: int = 32,
                 force: bool = False) -> dict[str, dict[str, str]]:
    """Write the toy VQA set (layout in the module docstring) to ``out_dir``; returns, per
    split, the paths of its ``questions``, ``annotations``, ``scenes`` and image folder
    (``images``).

    ``colours`` name entries of ``palette`` (name -> RGB, default the toy caption colours);
    each scene holds 1 to ``max_objects`` objects of distinct colours; each image gets up to
    ``questions_per_image`` questions of distinct types. A rerun with equal settings reuses the
    files unless ``force``.
    """
    palette, settings = toy_settings(colours, palette, num_train=num_train, num_val=num_val,
                                     size=size, seed=seed, shapes=list(shapes),
                                     max_objects=max_objects,
                                     questions_per_image=questions_per_image, noise=noise,
                                     vocab_size=vocab_size, context_length=context_length)
    out = vqa_paths(out_dir)
    if not needs_writing(out_dir, settings, [*VQA_FILES, 'tokenizer.json'], force):
        return out

    def draw(rng: np.random.Generator) -> tuple[np.ndarray, list[ToyObject]]:
        img, _, objs = draw_shapes_scene(rng, size, (1, max_objects), palette, shapes)
        return img, objs

    texts = write_vqa_splits(out_dir, dict(train=num_train, val=num_val), draw, (seed,),
                             colours, shapes, max_objects, questions_per_image, noise)
    finish(out_dir, settings, texts, vocab_size, context_length)
    return out


def vqa_paths(out_dir: str) -> dict[str, dict[str, str]]:
    """Per split, the paths of a toy VQA set's ``questions``, ``annotations``, ``scenes`` and
    image folder (``images``) under ``out_dir``."""
    return {s: dict(zip(('questions', 'annotations', 'scenes'),
                        (osp.join(out_dir, n) for n in _vqa_files(s))),
                    images=osp.join(out_dir, 'images', s)) for s in SPLITS}


def write_vqa_splits(out_dir: str, sizes: dict[str, int],
                     draw: Callable[[np.random.Generator], tuple[np.ndarray, list[ToyObject]]],
                     seed: Sequence[int], colours: Sequence[str], shapes: Sequence[str],
                     max_objects: int, questions_per_image: int, noise: float,
                     kinds: Sequence[str] = tuple(QUESTION_KINDS),
                     description: str = 'toy shapes VQA') -> list[str]:
    """Write the images, questions, annotations and scenes of the splits in ``sizes`` (split
    name in :data:`SPLITS` -> number of images) in the VQAv2 layout (module docstring).

    Image ``i`` of a split is ``draw(rng)`` (an image [H, W, 3] uint8 BGR and its objects) with
    ``rng = np.random.default_rng([*seed, split id, i])``; the same ``rng`` then picks up to
    ``questions_per_image`` of the scene's :func:`scene_questions` of the question types
    ``kinds`` and their :func:`human_answers`. Returns every question and human answer written
    (for a tokenizer)."""
    out = vqa_paths(out_dir)
    choices = _answer_choices(colours, shapes, max_objects)
    texts = []
    for split, num in sizes.items():
        questions, annotations, scenes = [], [], {}
        for i in range(num):
            rng = np.random.default_rng([*seed, SPLITS[split], i])
            img, objs = draw(rng)
            image_id = i + 1
            write_image(osp.join(out_dir, toy_image_name(split, image_id)), img)
            scenes[str(image_id)] = [asdict(o) for o in objs]
            asked = {k: q for k, q in scene_questions(objs, colours, shapes, rng).items()
                     if k in kinds}
            types = list(asked)
            for n, k in enumerate(rng.permutation(len(types))[:questions_per_image]):
                qtype = types[int(k)]
                question, answer, atype = asked[qtype]
                qid = image_id * 1000 + n
                wrong = [a for a in choices[qtype] if a != answer]
                answers = human_answers(answer, wrong, rng, noise)
                questions.append(dict(image_id=image_id, question=question, question_id=qid))
                annotations.append(dict(
                    question_id=qid, image_id=image_id, question_type=qtype, answer_type=atype,
                    multiple_choice_answer=answer,
                    answers=[dict(answer=a, answer_confidence='yes' if a == answer else 'maybe',
                                  answer_id=j + 1) for j, a in enumerate(answers)]))
                texts += [question, *answers]
        info = dict(description=f'{description}, {split}', version=TOY_VERSION)
        write_json(out[split]['questions'], dict(info=info, task_type='Open-Ended',
                                                 data_type='toy', data_subtype=split,
                                                 questions=questions))
        write_json(out[split]['annotations'], dict(info=info, data_type='toy',
                                                   data_subtype=split, annotations=annotations))
        write_json(out[split]['scenes'], scenes)
    return texts


def make_toy_videoqa(out_dir: str, num_train: int = 256, num_val: int = 64,
                     num_frames: int = 16, size: int = 32, seed: int = 0,
                     colours: Sequence[str] = DEFAULT_COLOURS,
                     palette: dict[str, tuple[int, int, int]] | None = None,
                     vocab_size: int = 256, context_length: int = 16,
                     force: bool = False) -> dict[str, str]:
    """Write the toy VideoQA set (layout in the module docstring): ``num_train`` and
    ``num_val`` clips (directions alternate, colours drawn from ``colours``), two questions
    each; returns the paths of ``train`` and ``val`` lists and the ``videos`` folder."""
    palette, settings = toy_settings(colours, palette, num_train=num_train, num_val=num_val,
                                     num_frames=num_frames, size=size, seed=seed,
                                     vocab_size=vocab_size, context_length=context_length)
    out = dict(train=osp.join(out_dir, 'train_qa.json'), val=osp.join(out_dir, 'val_qa.json'),
               videos=osp.join(out_dir, 'videos'))
    if not needs_writing(out_dir, settings, ['train_qa.json', 'val_qa.json', 'tokenizer.json'],
                         force):
        return out
    entries: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for split, clip in write_dot_clips(out_dir, num_train, num_val, num_frames, size, seed,
                                       palette):
        for k, (question, answer) in enumerate(VIDEO_QUESTIONS):
            entries[split].append(dict(video_id=clip['video_id'], question=question,
                                       answer=clip[answer], question_id=2 * clip['number'] + k))
    for split, rows in entries.items():
        write_json(out[split], rows)
    texts = [t for rows in entries.values() for e in rows for t in (e['question'], e['answer'])]
    finish(out_dir, settings, texts, vocab_size, context_length)
    return out


def toy_settings(colours: Sequence[str], palette: dict[str, tuple[int, int, int]] | None,
                 **options: object) -> tuple[dict[str, tuple[int, int, int]], dict]:
    """The palette of the named ``colours`` (from ``palette``, default the toy caption
    colours) and the settings of a toy set (its ``options`` and that palette, as JSON values)
    that its manifest records."""
    palette = {c: (palette or COLOURS)[c] for c in colours}
    return palette, dict(generator=TOY_VERSION, colours=list(colours),
                         palette={k: list(v) for k, v in palette.items()}, **options)


def write_dot_clips(out_dir: str, num_train: int, num_val: int, num_frames: int, size: int,
                    seed: int, palette: dict[str, tuple[int, int, int]]
                    ) -> Iterator[tuple[str, dict]]:
    """Write ``videos/video{n}.mp4`` for the train clips, then the val ones (numbered on), and
    yield ``(split, clip)`` with clip = dict(video_id, number, direction, colour)."""
    os.makedirs(osp.join(out_dir, 'videos'), exist_ok=True)
    number = 0
    for split, num in (('train', num_train), ('val', num_val)):
        for i in range(num):
            rng = np.random.default_rng([seed, SPLITS[split], i])
            direction = DIRECTIONS[i % 2]
            colour = str(rng.choice(list(palette)))
            video_id = f'video{number}'
            frames = named_dot_clip(direction == 'right', palette[colour], rng, num_frames, size)
            write_mp4(osp.join(out_dir, 'videos', f'{video_id}.mp4'), frames)
            yield split, dict(video_id=video_id, number=number, direction=direction,
                              colour=colour)
            number += 1


def majority_baseline(questions_file: str, annotations_file: str,
                      train_annotations_file: str | None = None) -> dict:
    """Official VQA accuracy of two answer-prior baselines on a split: answering every question
    with the most common training answer (``overall_majority``), and with the most common
    training answer of its question type (``per_type_majority``). The training answers are each
    question's :func:`~mammut_det.vqa.datasets.majority_answer` of ``train_annotations_file``
    (default: the split's own annotations). Prints and returns both (the answers and scores)."""
    from .datasets import VQAv2Dataset
    split = VQAv2Dataset(questions_file, answer_file=annotations_file, check_files=False,
                         serialize_data=False).data_list
    train = split if train_annotations_file is None else [
        dict(answer=majority_answer([a['answer'] for a in ann['answers']]),
             question_type=ann['question_type'])
        for ann in load(train_annotations_file)['annotations']]
    top = Counter(t['answer'] for t in train).most_common(1)[0][0]
    per_type = {}
    for qtype in {t['question_type'] for t in train}:
        per_type[qtype] = Counter(t['answer'] for t in train
                                  if t['question_type'] == qtype).most_common(1)[0][0]

    def score(answer_of) -> dict:
        return vqa_scores(ScoredQuestion(s['question_id'], answer_of(s), s['gt_answers'],
                                         s['answer_type'], s['question_type']) for s in split)

    result = dict(overall_majority=dict(answer=top, **score(lambda s: top)),
                  per_type_majority=dict(answers=per_type, **score(
                      lambda s: per_type.get(s['question_type'], top))))
    for name, r in result.items():
        scores = ', '.join(f'{k} {v:.2f}' for k, v in sorted(r['perAnswerType'].items()))
        print(f'{name}: {r["overall"]:.2f} ({scores})')
    return result
