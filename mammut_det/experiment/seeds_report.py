"""The report's sections over seeds: every number's mean and standard deviation across the
training seeds, and each claim (:data:`~.settings.CLAIMS`) as the paired difference of its two
arms (same seeds) with a 95% interval, marked reproduced, reversed or within noise."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scipy import stats

from . import report as rep
from .settings import CAPTION_VARIANTS, CLAIMS, VIDEO_ARMS, VLM_SETTINGS, Claim, seed_suffix

if TYPE_CHECKING:
    from .experiment import Experiment

LEVEL = 0.95
#: what each ablation changes, for the report
ABLATIONS_TEXT = [
    'The ablations, each one change to the two-pass pretraining (a), same seeds and schedule:',
    '',
    '- (e) no cropped positional embedding: the full-image positional embedding throughout '
    '(`custom_hooks.0.cpe_begin=None`); RO-ViT finds CPE raises APr.',
    '- (f) softmax InfoNCE instead of the focal contrastive loss '
    '(`model.contrastive_loss=infonce`); RO-ViT finds the focal loss raises APr.',
    '- (x1), (x2), (x4): a 4-layer decoder with 1, 2 or 4 cross-attention blocks '
    '(`model.text.depth=4`, `cross_attn_every` 4, 2, 1), pretrained and fine-tuned for VQA; '
    'the paper: more blocks help VQA, one or two suffice for retrieval.',
    '- (g), (h): contrastive:generative loss weights 2:1 and 1:2 against 1:1; the paper: '
    'the objectives compete (more weight helps its own task, costs the other).',
    '- video: the moving-dot recognizer and VideoQA (its encoder from the recognizer) with '
    'sparse tubes and frames, or frames only (`use_tubes=False`); the paper: the tubes matter '
    'most.',
    '- VLM score source of detector (a): (i) a frozen copy of the pretrained tower, (iii) '
    "F-VLM's frozen backbone, each against (ii) the fine-tuned backbone; F-VLM: frozen "
    'features keep the open vocabulary.',
    '']
RETRIEVAL = 'retrieval R@1'


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def paired_interval(arm: Sequence[float], base: Sequence[float],
                    level: float = LEVEL) -> tuple[float, float | None, float | None]:
    """Mean of the per-seed differences ``arm - base`` and its Student-t interval at ``level``
    (``None`` bounds for one seed)."""
    if len(arm) != len(base) or not arm:
        raise ValueError(f'paired values need the same seeds, got {len(arm)} and {len(base)}')
    diffs = [a - b for a, b in zip(arm, base)]
    mean, sd = mean_sd(diffs)
    if sd is None:
        return mean, None, None
    half = stats.t.ppf(0.5 + level / 2, len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def verdict(lo: float | None, hi: float | None, sign: int) -> str:
    """``'reproduced'`` when the interval lies on the claimed side of 0, ``'reversed'`` when on
    the other, ``'within noise'`` when it holds 0."""
    if lo is None or hi is None:
        return 'one seed'
    if lo > 0 or hi < 0:
        return 'reproduced' if (lo > 0) == (sign > 0) else 'reversed'
    return 'within noise'


def seed_numbers(exp: Experiment, markers: dict[str, dict], seed: int) -> dict[str, dict]:
    """Every number of one seed (percent): arm key -> metric -> value."""
    sfx = seed_suffix(seed)
    out: dict[str, dict[str, float]] = {}
    for v in exp.variants:
        nums = out.setdefault(v.key, {})
        if v.pretrain is not None:
            records = rep.read_scalars(exp.abspath(f'pretrain_{v.key}{sfx}'))
            i2t, t2i = (rep.last_value(records, f'retrieval/{k}@1') for k in ('i2t', 't2i'))
            if i2t is not None and t2i is not None:
                nums.update({RETRIEVAL: (i2t + t2i) / 2, 'retrieval i2t R@1': i2t,
                             'retrieval t2i R@1': t2i})
        if v.detection:
            metrics = markers[f'test_{v.key}{sfx}']['outputs']['metrics']
            nums.update({k: 100 * metrics[k] for k in ('AP', 'APr', 'APc', 'APf')
                         if metrics[k] >= 0})
            if v.pretrain is not None:
                acc = markers[f'zeroshot_{v.key}{sfx}']['outputs']['accuracy']
                nums['zero-shot top-1'] = 100 * acc['top1']
        if v.vqa:
            nums['toy VQA accuracy'] = markers[f'test-vqa_{v.key}{sfx}']['outputs']['overall']
        if v.key in CAPTION_VARIANTS:
            nums['caption recall'] = 100 * markers[f'captions_{v.key}{sfx}']['outputs']['recall']
    for s in VLM_SETTINGS:
        metrics = markers[exp.vlm_stage(s.key, seed)]['outputs']['metrics']
        out[f'vlm-{s.key}'] = {k: 100 * metrics[k] for k in ('AP', 'APr') if metrics[k] >= 0}
    if exp.ablations:
        for arm in VIDEO_ARMS:
            out[arm.key] = {
                'video top-1': 100 * markers[f'video_{arm.key}{sfx}']['outputs']['metric'],
                'VideoQA accuracy': markers[f'videoqa_{arm.key}{sfx}']['outputs']['metric']}
    return out


def arm_labels(exp: Experiment) -> dict[str, str]:
    labels = {v.key: v.label for v in exp.variants}
    labels.update({f'vlm-{s.key}': f'detector (a), VLM score {s.label}' for s in VLM_SETTINGS})
    labels.update({a.key: f'video, {a.label}' for a in VIDEO_ARMS})
    return labels


def _fmt(x: float | None) -> str:
    return '-' if x is None else f'{x:.1f}'


def _claim_result(c: Claim, numbers: dict[str, dict[str, list[float]]]) -> dict | None:
    arm, base = numbers.get(c.arm, {}).get(c.metric), numbers.get(c.base, {}).get(c.metric)
    if arm is None or base is None:
        return None
    diff, lo, hi = paired_interval(arm, base)
    return dict(group=c.group, metric=c.metric, arm=c.arm, base=c.base, sign=c.sign,
                source=c.source, arm_mean=mean_sd(arm)[0], base_mean=mean_sd(base)[0],
                diff=diff, lo=lo, hi=hi, verdict=verdict(lo, hi, c.sign))


def seeds_section(exp: Experiment, markers: dict[str, dict]) -> tuple[list[str], dict]:
    """The markdown lines of the sections over seeds and their results."""
    per_seed = [seed_numbers(exp, markers, seed) for seed in exp.seeds]
    numbers: dict[str, dict[str, list[float]]] = {}
    for arm, metrics in per_seed[0].items():
        for metric in metrics:
            values = [p.get(arm, {}).get(metric) for p in per_seed]
            if all(v is not None for v in values):
                numbers.setdefault(arm, {})[metric] = values
    labels = arm_labels(exp)
    summary = {arm: {m: dict(zip(('mean', 'sd'), mean_sd(vals))) for m, vals in ms.items()}
               for arm, ms in numbers.items()}
    rows = [['arm', 'number', 'mean', 'sd', *(f'seed {s}' for s in exp.seeds)]]
    for arm, ms in numbers.items():
        for metric, vals in ms.items():
            rows.append([labels[arm], metric, _fmt(summary[arm][metric]['mean']),
                         _fmt(summary[arm][metric]['sd']), *(_fmt(v) for v in vals)])
    claims = [r for r in (_claim_result(c, numbers) for c in CLAIMS) if r is not None]
    pct = round(100 * LEVEL)
    claim_rows = [['design choice', 'number', 'arm', 'against', 'arm mean', 'against mean',
                   f'paired difference [{pct}% interval]', 'claimed', 'source', 'here']]
    for r in claims:
        interval = ('' if r['lo'] is None else f' [{r["lo"]:+.1f}, {r["hi"]:+.1f}]')
        claim_rows.append([r['group'], r['metric'], labels[r['arm']], labels[r['base']],
                           _fmt(r['arm_mean']), _fmt(r['base_mean']),
                           f'{r["diff"]:+.1f}{interval}', 'higher' if r['sign'] > 0 else 'lower',
                           r['source'], r['verdict']])
    n = len(exp.seeds)
    lines = [
        f'## The claims over {n} seeds', '',
        *(ABLATIONS_TEXT if exp.ablations else []),
        f'Each arm trained under seeds {", ".join(map(str, exp.seeds))} (`randomness.seed`; '
        'the world, the VQA set and the clips are drawn once). For each claim the difference '
        'arm minus the arm it is compared with is taken seed by seed (the same seed in both, '
        f'so what a seed shares cancels) and its mean given with a {pct}% Student-t interval '
        f'over the {n} paired differences ({n - 1} degree{"s" * (n > 2)} of freedom). '
        '"reproduced": the '
        'interval lies on the claimed side of 0; "reversed": on the other; "within noise": it '
        'holds 0. Numbers in %; retrieval R@1 is the mean of image-to-text and text-to-image '
        'recall@1 on the held-out pairs at the end of pretraining.', '',
        rep.markdown_table(claim_rows), '',
        f'## Every number over {n} seeds', '',
        'Mean and sample standard deviation across the seeds, and each seed\'s value.', '',
        rep.markdown_table(rows), '']
    results = dict(seeds=list(exp.seeds), numbers=numbers, summary=summary, claims=claims,
                   level=LEVEL)
    return lines, results
