"""The miniature open-vocabulary experiment as stages of real tool runs, and its report.

generate the world -> pretrain MaMMUT (two passes; and contrastive only for the ablation) ->
zero-shot classification of the evaluation boxes by each pretrained MaMMUT -> fine-tune the
detector on the base classes from (a) the two-pass checkpoint, (b) the contrastive-only
checkpoint, (c) random initialisation -> ``tools/test.py`` (LVIS box AP on all
classes) -> ``tools/infer.py`` on held-out images with a typed vocabulary -> report.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import shutil
import sys
import time
from dataclasses import dataclass
from typing import TextIO

import cv2
from mmengine.config import Config

from ..detection.vocabulary import prompt_name
from . import report as rep
from .pipeline import Stage
from .world import WorldSettings, is_complete, make_world, world_classes

CONFIG_DIR = 'configs/experiment'
ENV_VAR = 'MAMMUT_EXPERIMENT'


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: how the detector is initialised."""

    key: str
    label: str
    source: str  # where the detector's weights come from, for the stage titles
    pretrain: str | None  # pretraining config name (without folder and suffix), None: random


VARIANTS = (
    Variant('two-pass', '(a) two-pass MaMMUT', 'the two-pass MaMMUT checkpoint',
            'mammut-tiny_two-pass_shapes-world'),
    Variant('contrastive', '(b) contrastive only', 'the contrastive-only checkpoint',
            'mammut-tiny_contrastive_shapes-world'),
    Variant('random', '(c) random initialisation', 'random weights', None),
)
DETECTOR_CONFIG = 'mammut-tiny_ovd_shapes-world'
ZERO_SHOT_CONFIG = f'{CONFIG_DIR}/mammut-tiny_zeroshot-cls_shapes-world.py'
#: margin around a box when it is cropped for zero-shot classification, as a fraction of its side
CROP_MARGIN = 0.15


@dataclass(frozen=True)
class Profile:
    """A setting of the experiment: the world drawn and the config suffix of the schedules."""

    name: str
    world: WorldSettings
    config_suffix: str
    score_thr: float
    grid_images: int

    def config(self, name: str) -> str:
        return f'{CONFIG_DIR}/{name}{self.config_suffix}.py'


PROFILES = {
    'default': Profile('default', WorldSettings(), '', score_thr=0.3, grid_images=6),
    'quick': Profile('quick', WorldSettings(num_pretrain=400, num_pretrain_val=50,
                                            num_det_train=40, num_det_val=12, num_infer=3),
                     '_quick', score_thr=0.2, grid_images=3),
}


def config_digest(path: str, experiment_dir: str) -> str:
    """Hash of the fully resolved config (bases included), so that editing any of them reruns
    the stages that use it."""
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = experiment_dir
    try:
        text = Config.fromfile(path, import_custom_modules=False).pretty_text
    finally:
        if old is None:
            del os.environ[ENV_VAR]
        else:
            os.environ[ENV_VAR] = old
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _echo(log: TextIO, text: str) -> None:
    log.write(text + '\n')
    print(text, flush=True)


def _copy_last_checkpoint(work_dir: str, dest: str) -> str:
    """Copy the checkpoint named in MMEngine's ``work_dir/last_checkpoint`` to ``dest``."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(f'{pointer} is missing: the training run saved no checkpoint')
    with open(pointer) as f:
        src = f.read().strip()
    if not osp.isabs(src) and not osp.isfile(src):
        src = osp.join(work_dir, osp.basename(src))
    os.makedirs(osp.dirname(dest), exist_ok=True)
    shutil.copyfile(src, dest + '.tmp')
    os.replace(dest + '.tmp', dest)
    return dest


class Experiment:
    """Builds the stages of one experiment folder.

    Args:
        out_dir: the experiment folder (absolute or relative to ``root``).
        profile: ``'default'`` or ``'quick'``.
        root: the repository root (the tools are run from there).
        python: the interpreter that runs the tools.
    """

    def __init__(self, out_dir: str, profile: str, root: str, python: str = sys.executable
                 ) -> None:
        if profile not in PROFILES:
            raise ValueError(f'unknown profile {profile!r}; choose one of {list(PROFILES)}')
        self.profile = PROFILES[profile]
        self.root = root
        self.python = python
        absolute = osp.abspath(osp.join(root, out_dir))
        rel = osp.relpath(absolute, root)
        self.out = absolute if rel.startswith('..') else rel  # as the tools see it (cwd=root)
        self.classes = world_classes(self.profile.world.classes)
        self.stage_names: list[str] = []  # filled by stages()

    # -- paths --------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path inside the experiment folder, as seen from the repository root."""
        return osp.join(self.out, *parts)

    def abspath(self, *parts: str) -> str:
        return osp.join(self.root, self.path(*parts))

    @property
    def env(self) -> dict[str, str]:
        return {ENV_VAR: self.out}

    def display(self, argv: list[str]) -> list[str]:
        """argv for printing: the interpreter relative to the root when it lives there."""
        python = argv[0]
        rel = osp.relpath(python, self.root)
        return ['python' if rel.startswith('..') else rel, *argv[1:]]

    # -- stages -------------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        world = self.profile.world
        out = [Stage('world', 'draw the shapes world (captions, LVIS annotations, held-out '
                              'images, tokenizer)', action=self._make_world,
                     settings=world.to_dict()),
               Stage('crops', 'crop the evaluation boxes for zero-shot classification',
                     deps=('world',), action=self._make_crops,
                     settings=dict(margin=CROP_MARGIN))]
        for v in VARIANTS:
            out += self._variant_stages(v)
        out.append(Stage('report', 'AP table, loss curves, detection grid -> report.md',
                         deps=tuple(s.name for s in out), action=self._report, always=True))
        self.stage_names = [s.name for s in out]
        return out

    def _train_stage(self, name: str, title: str, config: str, deps: tuple[str, ...],
                     dest: str, options: list[str]) -> Stage:
        work = self.path(name)
        command = [self.python, 'tools/train.py', config, '--work-dir', work]
        if options:
            command += ['--cfg-options', *options]

        def collect() -> dict:
            ckpt = _copy_last_checkpoint(osp.join(self.root, work), osp.join(self.root, dest))
            return dict(checkpoint=osp.relpath(ckpt, self.root), work_dir=work)

        return Stage(name, title, deps=deps, command=command, collect=collect,
                     clean=(osp.join(self.root, work),),
                     settings=dict(config=config_digest(osp.join(self.root, config),
                                                        self.out)))

    def _variant_stages(self, v: Variant) -> list[Stage]:
        p = self.profile
        det_config = p.config(DETECTOR_CONFIG)
        stages = []
        if v.pretrain is not None:
            mammut = self.path('checkpoints', f'mammut_{v.key}.pth')
            passes = ('both passes (contrastive + captioning)' if v.key == 'two-pass'
                      else 'the contrastive pass only (generative weight 0)')
            stages.append(self._train_stage(
                f'pretrain_{v.key}', f'pretrain MaMMUT on the image-caption pairs with {passes}',
                p.config(v.pretrain), ('world',), mammut, []))
            stages.append(self._zero_shot_stage(v, mammut))
            init = [f'model.backbone.init_cfg.checkpoint={mammut}',
                    f'model.class_embedder.init_cfg.checkpoint={mammut}']
            det_deps = ('world', f'pretrain_{v.key}')
        else:
            init = ['model.backbone.init_cfg=None', 'model.class_embedder.init_cfg=None']
            det_deps = ('world',)
        detector = self.path('checkpoints', f'detector_{v.key}.pth')
        stages.append(self._train_stage(
            f'detector_{v.key}', f'{v.label[:3]} fine-tune the detector on the base classes '
                                 f'from {v.source}', det_config, det_deps, detector, init))
        test_dir = self.path(f'test_{v.key}')

        def collect_metrics() -> dict:
            metrics = rep.read_test_metrics(osp.join(self.root, test_dir))
            path = self.abspath('metrics', f'{v.key}.json')
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=1)
            return dict(metrics=metrics)

        stages.append(Stage(
            f'test_{v.key}', f'LVIS box AP of detector {v.label[:3]} on all classes',
            deps=(f'detector_{v.key}',),
            command=[self.python, 'tools/test.py', det_config, detector, '--work-dir', test_dir,
                     '--out', osp.join(test_dir, 'detections.pkl')],
            collect=collect_metrics, clean=(osp.join(self.root, test_dir),)))
        infer_dir = self.path(f'infer_{v.key}')
        texts = ', '.join(c.name for c in self.classes)

        def collect_infer() -> dict:
            with open(osp.join(self.root, infer_dir, 'summary.json')) as f:
                summary = json.load(f)
            return dict(num_images=summary['num_processed'],
                        num_detections=summary['num_detections'])

        stages.append(Stage(
            f'infer_{v.key}', f'detector {v.label[:3]} on the held-out images, vocabulary typed',
            deps=(f'detector_{v.key}',),
            command=[self.python, 'tools/infer.py', det_config, detector,
                     self.path('world', 'infer'), '--out-dir', infer_dir, '--texts', texts,
                     '--score-thr', str(p.score_thr), '--device', 'cpu'],
            collect=collect_infer, clean=(osp.join(self.root, infer_dir),)))
        return stages

    def _zero_shot_stage(self, v: Variant, mammut: str) -> Stage:
        work = self.path(f'zeroshot_{v.key}')
        out = osp.join(work, 'predictions.pkl')
        frequencies = [c.frequency for c in self.classes]

        def collect() -> dict:
            return dict(accuracy=rep.zero_shot_accuracy(osp.join(self.root, out), frequencies))

        return Stage(
            f'zeroshot_{v.key}', f'zero-shot classification of the evaluation boxes by the '
                                 f'{v.key} MaMMUT (no detector, all classes named in text)',
            deps=('crops', f'pretrain_{v.key}'),
            command=[self.python, 'tools/test.py', ZERO_SHOT_CONFIG, mammut, '--work-dir', work,
                     '--out', out],
            collect=collect, clean=(osp.join(self.root, work),),
            settings=dict(config=config_digest(osp.join(self.root, ZERO_SHOT_CONFIG), self.out)))

    # -- in-process stages -------------------------------------------------------------------
    def _make_crops(self, log: TextIO) -> dict:
        """Every evaluation box with a margin of :data:`CROP_MARGIN`, as
        ``zeroshot/crops/<annotation id>.png`` and ``zeroshot/val.txt`` (``<file> <label>``, the
        label a category index into ``world/classes.txt``)."""
        world_dir, out_dir = self.abspath('world'), self.abspath('zeroshot')
        with open(osp.join(world_dir, 'annotations', 'lvis_v1_val.json')) as f:
            data = json.load(f)
        files = {im['id']: osp.join(world_dir, im['file_name']) for im in data['images']}
        os.makedirs(osp.join(out_dir, 'crops'), exist_ok=True)
        lines, per_class = [], {c.name: 0 for c in self.classes}
        for ann in sorted(data['annotations'], key=lambda a: a['id']):
            img = cv2.imread(files[ann['image_id']])
            if img is None:
                raise OSError(f'cannot read {files[ann["image_id"]]}')
            x, y, w, h = ann['bbox']
            m = CROP_MARGIN * max(w, h)
            x0, y0 = max(int(x - m), 0), max(int(y - m), 0)
            x1, y1 = min(int(x + w + m + 1), img.shape[1]), min(int(y + h + m + 1), img.shape[0])
            name = f'{ann["id"]:06d}.png'
            if not cv2.imwrite(osp.join(out_dir, 'crops', name), img[y0:y1, x0:x1]):
                raise OSError(f'cannot write {osp.join(out_dir, "crops", name)}')
            label = ann['category_id'] - 1
            lines.append(f'{name} {label}')
            per_class[self.classes[label].name] += 1
        with open(osp.join(out_dir, 'val.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        _echo(log, f'{len(lines)} crops in {out_dir}; per class: '
                   + ', '.join(f'{n} {k}' for n, k in per_class.items()))
        return dict(num_crops=len(lines), per_class=per_class)

    def _make_world(self, log: TextIO) -> dict:
        world_dir = self.abspath('world')
        s = self.profile.world
        start = time.perf_counter()
        if is_complete(world_dir, s):
            _echo(log, f'{world_dir} is complete with these settings; reusing it')
        else:
            _echo(log, f'drawing {s.num_pretrain} + {s.num_pretrain_val} pretraining scenes '
                       f'({s.pretrain_size} px), {s.num_det_train} + {s.num_det_val} detection '
                       f'scenes and {s.num_infer} held-out scenes ({s.det_size} px) ...')
            make_world(world_dir, s)
        counts = self.world_counts()
        rare = [c.name for c in self.classes if c.frequency == 'r']
        _echo(log, f'{len(self.classes)} classes ({len(rare)} rare: {", ".join(rare)}); '
                   f'done in {time.perf_counter() - start:.1f} s')
        for name in rare:
            _echo(log, f'  {name}: {counts["captions"][name]} pretraining captions, '
                       f'{counts["train_boxes"][name]} training boxes, '
                       f'{counts["val_boxes"][name]} evaluation boxes')
        return counts

    def world_counts(self) -> dict[str, dict[str, int]]:
        """Per class: pretraining captions that name it, boxes in detection train and val."""
        world_dir = self.abspath('world')
        captions = {c.name: 0 for c in self.classes}
        with open(osp.join(world_dir, 'pretrain', 'train.jsonl')) as f:
            for line in f:
                text = json.loads(line)['caption']
                for c in self.classes:
                    captions[c.name] += f'{c.colour} {c.shape}' in text
        out = dict(captions=captions)
        for split in ('train', 'val'):
            with open(osp.join(world_dir, 'annotations', f'lvis_v1_{split}.json')) as f:
                data = json.load(f)
            names = {c['id']: c['name'] for c in data['categories']}
            boxes = {c.name: 0 for c in self.classes}
            for a in data['annotations']:
                boxes[names[a['category_id']]] += 1
            out[f'{split}_boxes'] = boxes
        return out

    def _report(self, log: TextIO) -> dict:
        markers = {}
        for name in self.stage_names[:-1]:
            with open(self.abspath('stages', f'{name}.json')) as f:
                markers[name] = json.load(f)
        text, results = self.render_report(markers)
        paths = rep.write_report(self.abspath(), text, 'MaMMUT open-vocabulary experiment')
        with open(self.abspath('results.json'), 'w') as f:
            json.dump(results, f, indent=1)
        _echo(log, text)
        _echo(log, f'report: {paths["markdown"]} (and {osp.basename(paths["html"])}); '
                   f'numbers: {self.abspath("results.json")}')
        return dict(report=self.path('report.md'), results=self.path('results.json'))

    def render_report(self, markers: dict[str, dict]) -> tuple[str, dict]:
        """The report's markdown (plots written beside it) and the results as a dict."""
        p, s = self.profile, self.profile.world
        metrics = {v.label: markers[f'test_{v.key}']['outputs']['metrics'] for v in VARIANTS}
        table = rep.metrics_table(metrics)
        pretrain = {v.label: rep.read_scalars(self.abspath(f'pretrain_{v.key}'))
                    for v in VARIANTS if v.pretrain}
        detector = {v.label: rep.read_scalars(self.abspath(f'detector_{v.key}'))
                    for v in VARIANTS}
        rep.plot_curves(pretrain, rep.PRETRAIN_LOSSES, self.abspath('pretrain_losses.png'),
                        'MaMMUT pretraining losses (weighted as trained)')
        rep.plot_curves(detector, rep.DETECTOR_LOSSES, self.abspath('detector_losses.png'),
                        'detector fine-tuning losses (base classes)')
        with open(self.abspath('world', 'infer_objects.json')) as f:
            truth = json.load(f)
        rare = [c.name for c in self.classes if c.frequency == 'r']
        rep.detection_grid(self.abspath('world'), truth,
                           {v.label: self.abspath(f'infer_{v.key}') for v in VARIANTS},
                           set(rare), self.abspath('detections.png'), p.grid_images)
        retrieval = {label: {k: rep.last_value(recs, f'retrieval/{k}')
                             for k in ('i2t@1', 't2i@1', 'chance_i2t@1')}
                     for label, recs in pretrain.items()}
        zero_shot = {v.label: markers[f'zeroshot_{v.key}']['outputs']['accuracy']
                     for v in VARIANTS if v.pretrain}
        groups = [('top1', 'all'), ('top1_f', 'frequent'), ('top1_c', 'common'),
                  ('top1_r', 'rare'), ('mean_class', 'mean over classes')]
        zs_table = [['init', *(g[1] for g in groups)]] + [
            [label, *(f'{100 * acc[k]:.1f}' if k in acc else '-' for k, _ in groups)]
            for label, acc in zero_shot.items()]
        counts = markers['world']['outputs']
        a, c = metrics[VARIANTS[0].label], metrics[VARIANTS[2].label]
        b = metrics[VARIANTS[1].label]
        stage_rows = [[n, f'{m["seconds"]:.0f}'] for n, m in markers.items()]
        total = sum(m['seconds'] for m in markers.values())
        wall = (max(m['finished_at'] for m in markers.values())
                - min(m['finished_at'] - m['seconds'] for m in markers.values()))
        results = dict(profile=p.name, metrics={v.key: metrics[v.label] for v in VARIANTS},
                       retrieval={v.key: retrieval[v.label] for v in VARIANTS if v.pretrain},
                       zero_shot={v.key: zero_shot[v.label] for v in VARIANTS if v.pretrain},
                       stage_seconds={n: m['seconds'] for n, m in markers.items()},
                       wall_seconds=round(wall, 1),
                       world=s.to_dict(), rare_classes=rare)
        freq = {f: [c.name for c in self.classes if c.frequency == f] for f in 'fcr'}
        lines = [
            f'# MaMMUT open-vocabulary experiment ({p.name} setting)', '',
            'Does pretraining on image-caption pairs let the detector find classes it never saw '
            'a box of? A miniature LVIS-style test on a generated world of coloured shapes.', '',
            '## The world', '',
            f'- {len(self.classes)} classes, colour x shape, LVIS frequencies: '
            f'{len(freq["f"])} frequent, {len(freq["c"])} common, {len(freq["r"])} rare '
            f'({", ".join(prompt_name(n) for n in rare)}). Every class has a colour of its own, '
            'so the rare colours never occur in a training box (why: the docstring of '
            '`mammut_det/experiment/world.py`).',
            f'- Pretraining: {s.num_pretrain} captioned scenes of {s.pretrain_size} px. Captions '
            'of the rare classes: ' + ', '.join(f'{prompt_name(n)} {counts["captions"][n]}'
                                                for n in rare) + '.',
            f'- Detection: {s.num_det_train} training scenes of {s.det_size} px with '
            f'{sum(counts["train_boxes"].values())} boxes, of which rare: '
            f'{sum(counts["train_boxes"][n] for n in rare)}; evaluation: {s.num_det_val} scenes, '
            f'{sum(counts["val_boxes"].values())} boxes, rare: '
            f'{sum(counts["val_boxes"][n] for n in rare)}.',
            f'- Held-out folder for inference: {s.num_infer} scenes '
            f'(`{self.path("world", "infer")}`).',
            '',
            '## LVIS box AP on the evaluation split (all classes; APr = rare = never boxed)', '',
            rep.markdown_table(table), '',
            f'APr of (a) minus (c): {100 * (a["APr"] - c["APr"]):+.1f} points; '
            f'(a) minus (b): {100 * (a["APr"] - b["APr"]):+.1f} points. AP50 and AP are over all '
            'classes. All numbers come from tools/test.py (lvis/bbox_*), nothing is edited.', '',
            '## Pretraining', '',
            'Held-out image-text retrieval at the end of pretraining (recall@1, %): ' + '; '.join(
                f'{label}: i2t {r["i2t@1"]:.1f}, t2i {r["t2i@1"]:.1f} '
                f'(chance {r["chance_i2t@1"]:.1f})'
                for label, r in retrieval.items() if r['i2t@1'] is not None) + '.', '',
            '![pretraining losses](pretrain_losses.png)', '',
            '## Zero-shot classification of the evaluation boxes (no detector)', '',
            f'Each of the {markers["crops"]["outputs"]["num_crops"]} evaluation boxes, cropped '
            f'with a margin, scored by the pretrained MaMMUT against the text embeddings of all '
            f'{len(self.classes)} class names (`MaMMUTZeroShotClassifier` through tools/test.py); '
            f'top-1 accuracy, % (chance {100 / len(self.classes):.1f}), by the true class\'s '
            'frequency. The rare classes were only ever named in captions.', '',
            rep.markdown_table(zs_table), '',
            '## Detector fine-tuning', '',
            '![detector losses](detector_losses.png)', '',
            '## Sample detections on held-out images', '',
            f'tools/infer.py with the vocabulary typed on the command line (`--texts`, all '
            f'{len(self.classes)} classes), boxes scoring at least {p.score_thr}.', '',
            '![detections](detections.png)', '',
            '## Stages and times', '',
            f'From the start of the first stage to the end of the last: {wall / 60:.1f} min '
            f'(stages side by side where they could be; summed stage time {total / 60:.1f} min; '
            'a stage reused from an earlier run keeps the time it took then).', '',
            rep.markdown_table([['stage', 'seconds'], *stage_rows]), '', '## Reproduce', '',
            '```',
            f'python tools/run_experiment.py{" --quick" if p.name == "quick" else ""} '
            f'--out-dir {self.out}',
            '```', '',
            'or stage by stage, as run here, once the command above has drawn the world '
            '(`make_world` in `mammut_det/experiment/world.py`):', '',
            '```',
            *[m['command'] for m in markers.values() if m.get('command')],
            '```', '']
        return '\n'.join(lines), results
