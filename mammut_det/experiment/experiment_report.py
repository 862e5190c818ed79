"""The experiment's report: ``report.md`` (AP table, retrieval, zero-shot accuracy, loss curves,
detection grid, the generative section, stage times, the commands to reproduce it) and
``results.json``, from the stages' done-markers and outputs."""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from typing import TYPE_CHECKING, TextIO

from ..detection.vocabulary import prompt_name
from . import report as rep
from .actions import echo
from .generative_report import generative_section
from .pipeline import schedule_estimate
from .seeds_report import seeds_section
from .settings import DETECTION_VARIANTS, VARIANTS, VLM_SETTINGS

if TYPE_CHECKING:
    from .experiment import Experiment


def write_experiment_report(exp: Experiment, log: TextIO) -> dict:
    """The report stage: read every other stage's marker, write ``report.md`` (and its HTML,
    plots) and ``results.json``."""
    markers = {}
    for name in exp.stage_names[:-1]:
        with open(exp.abspath('stages', f'{name}.json')) as f:
            markers[name] = json.load(f)
    text, results = render_report(exp, markers)
    paths = rep.write_report(exp.abspath(), text, 'MaMMUT open-vocabulary experiment')
    with open(exp.abspath('results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    echo(log, text)
    echo(log, f'report: {paths["markdown"]} (and {osp.basename(paths["html"])}); '
               f'numbers: {exp.abspath("results.json")}')
    return dict(report=exp.path('report.md'), results=exp.path('results.json'))


def timing_section(exp: Experiment, markers: dict[str, dict]) -> tuple[list[str], dict]:
    """Wall and CPU time of the stages, and the wall time the same schedule would take on a
    quiet machine with one core per running stage (``jobs`` of them): each stage's CPU seconds
    through the pipeline's order and policy, plus this process's CPU outside the stages."""
    seconds = {n: m['seconds'] for n, m in markers.items()}
    cpu = {n: m.get('cpu_seconds', m['seconds']) for n, m in markers.items()}
    wall = (max(m['finished_at'] for m in markers.values())
            - min(m['finished_at'] - m['seconds'] for m in markers.values()))
    in_process = sum(cpu[s.name] for s in exp.pipeline_stages if s.action and s.name in cpu)
    own = max(time.process_time() - in_process, 0.0)
    stages = [s for s in exp.pipeline_stages if s.name in cpu]
    quiet = schedule_estimate(stages, cpu, exp.jobs) + own
    rows = [[n, f'{seconds[n]:.0f}', f'{cpu[n]:.0f}'] for n in markers]
    lines = [
        '## Stages and times', '',
        f'From the start of the first stage to the end of the last: {wall / 60:.1f} min on '
        f'this machine (load average {os.getloadavg()[0]:.1f} at the end; stages side by side '
        f'where they could be, up to {exp.jobs}; summed stage time {sum(seconds.values()) / 60:.1f}'
        ' min; a stage reused from an earlier run keeps the times it took then). CPU time '
        f'(user + system of each tool process and its data workers): {sum(cpu.values()) / 60:.1f}'
        f' min in the stages, {own:.0f} s in run_experiment.py itself (imports, config digests, '
        f'echoing the logs). On a quiet machine with {exp.jobs} cores the same schedule, each '
        f'stage taking its CPU time, would take about {quiet / 60:.1f} min.', '',
        rep.markdown_table([['stage', 'seconds', 'CPU seconds'], *rows])]
    results = dict(stage_seconds=seconds, stage_cpu_seconds=cpu, wall_seconds=round(wall, 1),
                   cpu_seconds=round(sum(cpu.values()) + own, 1),
                   quiet_estimate_seconds=round(quiet, 1))
    return lines, results


def render_report(exp: Experiment, markers: dict[str, dict]) -> tuple[str, dict]:
    """The report's markdown (plots written beside it) and the results as a dict."""
    p, s = exp.profile, exp.profile.world
    metrics = {v.label: markers[f'test_{v.key}']['outputs']['metrics']
               for v in DETECTION_VARIANTS}
    table = rep.metrics_table(metrics)
    vlm = {vs.label: markers[exp.vlm_stages[vs.key]]["outputs"]["metrics"] for vs in VLM_SETTINGS}
    vlm_table = rep.metrics_table(vlm, ('APr', 'APc', 'APf', 'AP'), 'VLM score of detector (a)')
    vlm_rows = {vs.key: vlm[vs.label] for vs in VLM_SETTINGS}
    vlm_apr = {k: 100 * (m['APr'] - vlm_rows['backbone']['APr']) for k, m in vlm_rows.items()}
    pretrain = {v.label: rep.read_scalars(exp.abspath(f'pretrain_{v.key}'))
                for v in VARIANTS if v.pretrain}
    detector = {v.label: rep.read_scalars(exp.abspath(f'detector_{v.key}'))
                for v in DETECTION_VARIANTS}
    rep.plot_curves(pretrain, rep.PRETRAIN_LOSSES, exp.abspath('pretrain_losses.png'),
                    'MaMMUT pretraining losses (weighted as trained)')
    rep.plot_curves(detector, rep.DETECTOR_LOSSES, exp.abspath('detector_losses.png'),
                    'detector fine-tuning losses (base classes)')
    with open(exp.abspath('world', 'infer_objects.json')) as f:
        truth = json.load(f)
    rare = [c.name for c in exp.classes if c.frequency == 'r']
    rep.detection_grid(exp.abspath('world'), truth,
                       {v.label: exp.abspath(f'infer_{v.key}') for v in DETECTION_VARIANTS},
                       set(rare), exp.abspath('detections.png'), p.grid_images)
    retrieval = {label: {k: rep.last_value(recs, f'retrieval/{k}')
                         for k in ('i2t@1', 't2i@1', 'chance_i2t@1')}
                 for label, recs in pretrain.items()}
    zero_shot = {v.label: markers[f'zeroshot_{v.key}']['outputs']['accuracy']
                 for v in DETECTION_VARIANTS if v.pretrain}
    groups = [('top1', 'all'), ('top1_f', 'frequent'), ('top1_c', 'common'),
              ('top1_r', 'rare'), ('mean_class', 'mean over classes')]
    zs_table = [['init', *(g[1] for g in groups)]] + [
        [label, *(f'{100 * acc[k]:.1f}' if k in acc else '-' for k, _ in groups)]
        for label, acc in zero_shot.items()]
    counts = markers['world']['outputs']
    by_key = {v.key: metrics[v.label] for v in DETECTION_VARIANTS}
    a, b, c = by_key['two-pass'], by_key['contrastive'], by_key['random']
    generative_lines, generative = generative_section(exp, markers)
    timing_lines, timing = timing_section(exp, markers)
    seeds_lines, seeds = seeds_section(exp, markers) if exp.multi_seed else ([], None)
    results = dict(profile=p.name, metrics=by_key, vlm_score=vlm_rows,
                   retrieval={v.key: retrieval[v.label] for v in VARIANTS if v.pretrain},
                   zero_shot={v.key: zero_shot[v.label] for v in DETECTION_VARIANTS
                              if v.pretrain},
                   **generative, **timing, world=s.to_dict(), vqa_settings=p.vqa.to_dict(),
                   rare_classes=rare, **({'seeds': seeds} if seeds else {}))
    freq = {f: [c.name for c in exp.classes if c.frequency == f] for f in 'fcr'}
    lines = [
        f'# MaMMUT open-vocabulary experiment ({p.name} setting)', '',
        'Does pretraining on image-caption pairs let the detector find classes it never saw '
        'a box of? A miniature LVIS-style test on a generated world of coloured shapes. And '
        'does the joint (two-pass) pretraining also serve the generative tasks: toy VQA '
        'fine-tuned from each pretraining, and greedy captions (the last sections).', '',
        '## The world', '',
        f'- {len(exp.classes)} classes, colour x shape, LVIS frequencies: '
        f'{len(freq["f"])} frequent, {len(freq["c"])} common, {len(freq["r"])} rare '
        f'({", ".join(prompt_name(n) for n in rare)}). Every class has a colour of its own, '
        'so the rare colours never occur in a training box (why: the docstring of '
        '`mammut_det/experiment/world.py`).',
        f'- Pretraining: {s.num_pretrain} captioned scenes of {s.pretrain_size} px, with both '
        'passes (a), the contrastive pass only (b) or the generative pass only (d; VQA and '
        'captions only), same seed and schedule. Captions '
        'of the rare classes: ' + ', '.join(f'{prompt_name(n)} {counts["captions"][n]}'
                                            for n in rare) + '.',
        f'- Detection: {s.num_det_train} training scenes of {s.det_size} px with '
        f'{sum(counts["train_boxes"].values())} boxes, of which rare: '
        f'{sum(counts["train_boxes"][n] for n in rare)}; evaluation: {s.num_det_val} scenes, '
        f'{sum(counts["val_boxes"].values())} boxes, rare: '
        f'{sum(counts["val_boxes"][n] for n in rare)}.',
        f'- Held-out folder for inference: {s.num_infer} scenes '
        f'(`{exp.path("world", "infer")}`).',
        '',
        *seeds_lines,
        '## LVIS box AP on the evaluation split (all classes; APr = rare = never boxed)'
        + (' (seed 0)' if exp.multi_seed else ''), '',
        rep.markdown_table(table), '',
        f'APr of (a) minus (c): {100 * (a["APr"] - c["APr"]):+.1f} points; '
        f'(a) minus (b): {100 * (a["APr"] - b["APr"]):+.1f} points. AP50 and AP are over all '
        'classes. All numbers come from tools/test.py (lvis/bbox_*), nothing is edited.', '',
        '## Where the VLM score comes from (detector (a))', '',
        'At test time each box\'s detection score is fused with a VLM score, the box pooled '
        'from an image-tower map and compared with the class embeddings (`model.vlm_score`). '
        '(i) and (ii) are the same trained weights of detector (a), tested twice: the map of a '
        'frozen copy of the pretrained image tower (`source=pretrained`), or of the fine-tuned '
        'backbone (`source=backbone`); (iii) is trained apart, same seed and schedule, with the '
        'backbone frozen in every block (F-VLM; its map is the pretrained one, the two sources '
        'coincide). APr is the rare classes, never boxed in training.', '',
        rep.markdown_table(vlm_table), '',
        f'APr (i) minus (ii): {vlm_apr["pretrained"]:+.1f} points; (iii) minus (ii): '
        f'{vlm_apr["frozen"]:+.1f} points. '
        'The test-time cost of (i) (one more backbone forward per image, the tower\'s weights in '
        'memory and in the checkpoint) is measured by `benchmarks/vlm_tower_cost.py`.', '',
        '## Pretraining', '',
        'Held-out image-text retrieval at the end of pretraining (recall@1, %): ' + '; '.join(
            f'{label}: i2t {r["i2t@1"]:.1f}, t2i {r["t2i@1"]:.1f} '
            f'(chance {r["chance_i2t@1"]:.1f})'
            for label, r in retrieval.items() if r['i2t@1'] is not None) + '.', '',
        '![pretraining losses](pretrain_losses.png)', '',
        '## Zero-shot classification of the evaluation boxes (no detector)', '',
        f'Each of the {markers["crops"]["outputs"]["num_crops"]} evaluation boxes, cropped '
        f'with a margin, scored by the pretrained MaMMUT against the text embeddings of all '
        f'{len(exp.classes)} class names (`MaMMUTZeroShotClassifier` through tools/test.py); '
        f'top-1 accuracy, % (chance {100 / len(exp.classes):.1f}), by the true class\'s '
        'frequency. The rare classes were only ever named in captions.', '',
        rep.markdown_table(zs_table), '',
        '## Detector fine-tuning', '',
        '![detector losses](detector_losses.png)', '',
        '## Sample detections on held-out images', '',
        f'tools/infer.py with the vocabulary typed on the command line (`--texts`, all '
        f'{len(exp.classes)} classes), boxes scoring at least {p.score_thr}.', '',
        '![detections](detections.png)', '',
        *generative_lines,
        *timing_lines, '', '## Reproduce', '',
        '```',
        f'python tools/run_experiment.py{exp.cli_flags()} --out-dir {exp.out}',
        '```', '',
        'or stage by stage, as run here, once the command above has drawn the world '
        '(`make_world` in `mammut_det/experiment/world_files.py`):', '',
        '```',
        *[m['command'] for m in markers.values() if m.get('command')],
        '```', '']
    return '\n'.join(lines), results
