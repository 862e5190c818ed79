"""The report's generative section: toy VQA accuracy after fine-tuning from each pretraining
variant beside the majority-answer baselines, and greedy captions of held-out images."""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from . import report as rep
from .settings import CAPTION_VARIANTS, VARIANTS, VQA_CONFIG
from .world_vqa import WORLD_VQA_KINDS

if TYPE_CHECKING:
    from .experiment import Experiment

#: the paper's cross-task ablation (Kuo et al. 2023, VQAv2 accuracy) by variant key
PAPER_VQA = {'two-pass': 71.7, 'generative': 69.9, 'contrastive': 63.5}
ANSWER_TYPES = ('other', 'number')
BASELINES = {'overall_majority': 'majority answer', 'per_type_majority':
             'majority answer of the question type'}


def paired_stderr(scores_a: dict[str, float], scores_b: dict[str, float]) -> float:
    """Standard error (points) of the difference of two mean accuracies over the same
    questions (question id -> accuracy in percent): the spread of the per-question differences
    over the square root of their number."""
    diffs = [scores_a[q] - scores_b[q] for q in scores_a]
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1)
    return math.sqrt(var / len(diffs))


def vqa_row(label: str, scores: dict) -> list[str]:
    return [label, f'{scores["overall"]:.1f}',
            *(f'{scores["perAnswerType"].get(t, float("nan")):.1f}' for t in ANSWER_TYPES),
            *(f'{scores["perQuestionType"].get(k, float("nan")):.1f}' for k in WORLD_VQA_KINDS)]


def _order_sentence(vqa: dict[str, dict], per_question: dict[str, dict]) -> str:
    """Our ranking, the paper's pairs with their differences and two standard errors."""
    labels = {v.key: v.label[:3] for v in VARIANTS}
    ranked = sorted(vqa, key=lambda k: -vqa[k]['overall'])
    text = 'Here: ' + ' > '.join(f'{labels[k]} {vqa[k]["overall"]:.1f}' for k in ranked) + '. '
    pairs = []
    for high, low in (('two-pass', 'generative'), ('generative', 'contrastive'),
                      ('two-pass', 'contrastive')):
        diff = vqa[high]['overall'] - vqa[low]['overall']
        two_se = 2 * paired_stderr(per_question[high], per_question[low])
        verdict = ('as in the paper' if diff > two_se else 'the other way round'
                   if diff < -two_se else 'within noise')
        pairs.append(f'{labels[high]} - {labels[low]} = {diff:+.1f} points '
                     f'(paper {PAPER_VQA[high] - PAPER_VQA[low]:+.1f}; two standard errors '
                     f'{two_se:.1f}: {verdict})')
    return text + '; '.join(pairs) + '.'


def generative_section(exp: Experiment, markers: dict[str, dict]) -> tuple[list[str], dict]:
    """The section's markdown lines (its plots written beside the report) and its results."""
    p = exp.profile
    data = markers['vqa_data']['outputs']
    vqa = {v.key: markers[f'test-vqa_{v.key}']['outputs'] for v in VARIANTS}
    per_question = {}
    for v in VARIANTS:
        with open(exp.abspath(f'test-vqa_{v.key}', 'scores.json')) as f:
            per_question[v.key] = json.load(f)['perQuestion']
    header = ['VQA model initialised from', 'overall', *ANSWER_TYPES,
              *(f'"{k}"' for k in WORLD_VQA_KINDS)]
    rows = [vqa_row(v.label, vqa[v.key]) for v in VARIANTS]
    baselines = data['baselines']
    for key, label in BASELINES.items():
        b = baselines[key]
        answer = (f'"{b["answer"]}"' if 'answer' in b
                  else ', '.join(f'"{a}"' for a in b['answers'].values()))
        rows.append(vqa_row(f'{label} ({answer})', b))
    num_val = sum(data['questions']['val'].values())
    num_train = sum(data['questions']['train'].values())
    fine_tune = {v.label: rep.read_scalars(exp.abspath(f'vqa_{v.key}')) for v in VARIANTS}
    rep.plot_curves(fine_tune, ('loss_caption',), exp.abspath('vqa_losses.png'),
                    'VQA fine-tuning loss (answer tokens)')
    captions = {k: markers[f'captions_{k}']['outputs'] for k in CAPTION_VARIANTS}
    labels = {v.key: v.label for v in VARIANTS}
    cap_rows = [['captioner (pretrained, no fine-tuning)', 'classes named (recall)',
                 'named classes right (precision)', 'images named exactly']]
    cap_rows += [[labels[k], f'{100 * c["recall"]:.1f}', f'{100 * c["precision"]:.1f}',
                  f'{100 * c["exact"]:.1f}'] for k, c in captions.items()]
    first = captions[CAPTION_VARIANTS[0]]['examples']
    examples = [['image', 'ground truth', *(labels[k][:3] for k in CAPTION_VARIANTS)]]
    examples += [[e['image'], e['caption'],
                  *(captions[k]['examples'][i]['generated'] for k in CAPTION_VARIANTS)]
                 for i, e in enumerate(first)]
    rep.caption_figure(exp.abspath('world', 'pretrain'), examples, exp.abspath('captions.png'))
    iters = rep.curve(fine_tune[VARIANTS[0].label], 'loss_caption')[0]
    lines = [
        '## Generative tasks: toy VQA and greedy captions', '',
        'Does the generative pass transfer as the paper finds? A toy VQA set drawn in the same '
        f'world (the pretraining scenes\' drawing, palette and classes, 1 to {p.vqa.max_objects} '
        f'objects; {p.vqa.num_train} training scenes with {num_train} questions, '
        f'{p.vqa.num_val} val scenes with {num_val}) asks "what colour is the star?" (only when '
        'one star is shown), "how many circles are there?" and "what shape is the red object?" '
        '(only when one red object is shown), with ten human answers each in the VQAv2 layout '
        f'(`{exp.path("vqa")}`). The world\'s tokenizer, trained on the captions and the '
        f'questions\' words, encodes every question in at most {data["longest"]["question"]} '
        f'ids and every answer in {data["longest"]["answer"]} (prompt limit '
        f'{data["prompt_limit"]}, context 16). Open-ended generation (the question is the '
        'teacher-forced prompt, the answer generated greedily) is fine-tuned from each '
        f'initialisation for {iters[-1] if iters else "?"} iterations, same seed and schedule '
        f'(`{p.config(VQA_CONFIG)}`), and tools/test.py scores the val '
        'questions with the official VQA accuracy (%; "other" = the colour and shape '
        'questions, "number" = counting).', '',
        rep.markdown_table([header, *rows]), '',
        'The paper\'s cross-task ablation (VQAv2): (a) joint 71.7 > (d) generative only 69.9 > '
        '(b) contrastive only 63.5. ' + _order_sentence(vqa, per_question) + ' One seed; the '
        'standard errors are of the difference over these val questions (paired), not over '
        'seeds. In this world every colour belongs to one class, so "what shape is the red '
        'object?" is answered by the question alone once the colour-to-shape map is learnt '
        'from the answers; the colour and counting questions need the image.', '',
        '![VQA fine-tuning loss](vqa_losses.png)', '',
        '### Greedy captions of held-out images', '',
        f'The pretrained models, without fine-tuning, caption the '
        f'{captions[CAPTION_VARIANTS[0]]["num_images"]} held-out pretraining images greedily '
        '(tools/test.py of the pretraining config with `model.test_cfg.generate_captions=True`). '
        'A caption names a class when it says "<colour> <shape>"; percentages over the images\' '
        'classes (recall), the classes named (precision) and the images.', '',
        rep.markdown_table(cap_rows), '',
        rep.markdown_table(examples), '',
        '![captions](captions.png)', '']
    results = dict(vqa=vqa, vqa_baselines=baselines, vqa_questions=data['questions'],
                   captions=captions)
    return lines, results
