"""The experiment's toy VQA set: questions about scenes drawn as the world's pretraining images
(same drawing, palette, classes, size, clutter), so that what pretraining learnt can transfer.

Output of :func:`make_world_vqa` under ``out_dir``, the VQAv2 layout of
:func:`mammut_det.vqa.make_toy_vqa` (``VQAv2Dataset`` and ``VQAAccuracy`` read it)::

    images/{train,val}/toy_{split}_000000000001.png
    v2_OpenEnded_toy_{split}_questions.json
    v2_toy_{split}_annotations.json, toy_{split}_scenes.json
    manifest.json                            the world's and the set's settings, written last

The questions are those of :data:`WORLD_VQA_KINDS` that a scene answers uniquely ("what colour is
the star?" only when it holds one star, "what shape is the red object?" only when it holds one red
object, "how many circles are there?"). Questions and answers are encoded by the world's own
tokenizer, which :func:`~.world_files.make_world` trains on the captions and on
:func:`~mammut_det.vqa.toy.question_vocabulary` of these kinds, so that pretraining and
fine-tuning share one vocabulary.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from ..datasets.toy_captions import ToyObject
from ..datasets.toy_scenes import needs_writing, write_json
from ..text.base import BaseTokenizer
from ..vqa.datasets import majority_answer
from ..vqa.toy import VQA_FILES, vqa_paths, write_vqa_splits
from .world import WorldSettings, draw_scene, world_classes

#: the question types asked about the world's scenes
WORLD_VQA_KINDS = ('what colour is the', 'how many', 'what shape is the')
#: random stream of the VQA scenes, after the world's own splits (``world_files.SPLITS``)
VQA_STREAM = 5


@dataclass(frozen=True)
class VQASettings:
    """How many scenes each split holds, objects per scene (1 to ``max_objects``), questions per
    scene (at most one of each kind) and the share of noisy human answers."""

    num_train: int = 1500
    num_val: int = 300
    max_objects: int = 3
    questions_per_image: int = 3
    noise: float = 0.15

    def to_dict(self) -> dict:
        return asdict(self)


def world_words(world: WorldSettings) -> tuple[list[str], list[str]]:
    """The world's colours and shapes, each once, in class order."""
    classes = world_classes(world.classes)
    return (list(dict.fromkeys(c.colour for c in classes)),
            list(dict.fromkeys(c.shape for c in classes)))


def make_world_vqa(out_dir: str, world: WorldSettings, s: VQASettings,
                   force: bool = False) -> dict[str, dict[str, str]]:
    """Write the world's toy VQA set (layout in the module docstring) to ``out_dir``, or reuse
    one made with the same world and settings unless ``force``; returns, per split, the paths of
    its ``questions``, ``annotations``, ``scenes`` and ``images``."""
    settings = dict(world=world.to_dict(), vqa=s.to_dict())
    out = vqa_paths(out_dir)
    if not needs_writing(out_dir, settings, VQA_FILES, force):
        return out
    classes = world_classes(world.classes)
    weights = np.ones(len(classes))

    def draw(rng: np.random.Generator) -> tuple[np.ndarray, list[ToyObject]]:
        img, _, objs = draw_scene(rng, world.pretrain_size, classes, weights,
                                  int(rng.integers(1, s.max_objects + 1)), world.pretrain_radius,
                                  min(world.max_clutter, 2))
        return img, [o.toy for o in objs]

    colours, shapes = world_words(world)
    write_vqa_splits(out_dir, dict(train=s.num_train, val=s.num_val), draw,
                     (world.seed, VQA_STREAM), colours, shapes, s.max_objects,
                     s.questions_per_image, s.noise, WORLD_VQA_KINDS, 'shapes world VQA')
    write_json(f'{out_dir}/manifest.json', settings)
    return out


def check_token_lengths(paths: dict[str, dict[str, str]], tokenizer: BaseTokenizer,
                        max_prompt_tokens: int) -> dict[str, int]:
    """The longest question and training answer (the majority of the ten) of the set in ids.
    Raises ``ValueError`` naming the question when a question needs more than
    ``max_prompt_tokens`` ids (the generator would cut it) or ``<start> question answer <end>``
    more than the tokenizer's context."""
    longest = dict(question=0, answer=0)
    for files in paths.values():
        with open(files['questions']) as f:
            questions = {q['question_id']: q['question'] for q in json.load(f)['questions']}
        with open(files['annotations']) as f:
            annotations = json.load(f)['annotations']
        answers = [majority_answer([a['answer'] for a in ann['answers']]) for ann in annotations]
        texts = [questions[ann['question_id']] for ann in annotations]
        for question, answer, q_ids, a_ids in zip(texts, answers, tokenizer.encode_batch(texts),
                                                  tokenizer.encode_batch(answers)):
            if len(q_ids) > max_prompt_tokens or len(q_ids) + len(a_ids) + 2 > \
                    tokenizer.context_length:
                raise ValueError(
                    f'{files["questions"]}: {question!r} ({len(q_ids)} ids) with the answer '
                    f'{answer!r} ({len(a_ids)} ids) does not fit {max_prompt_tokens} prompt ids '
                    f'and a context of {tokenizer.context_length}; train the tokenizer on the '
                    'question vocabulary or raise the context')
            longest = dict(question=max(longest['question'], len(q_ids)),
                           answer=max(longest['answer'], len(a_ids)))
    return longest
