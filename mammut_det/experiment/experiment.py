"""The miniature open-vocabulary experiment as stages of real tool runs (what each stage runs and
depends on; :mod:`.pipeline` runs them, :mod:`.actions` holds the in-process ones,
:mod:`.experiment_report` writes the report).

generate the world -> pretrain MaMMUT (two passes; contrastive only and generative only for the
ablation) -> zero-shot classification of the evaluation boxes by the models with a contrastive
pass -> fine-tune the detector on the base classes from (a) the two-pass checkpoint, (b) the
contrastive-only checkpoint, (c) random initialisation -> ``tools/test.py`` (LVIS box AP on all
classes) -> ``tools/infer.py`` on held-out images with a typed vocabulary -> report. Detector (a)
is also tested with its VLM score from the fine-tuned backbone and from the frozen pretrained
tower (the same weights), and trained once more with F-VLM's frozen backbone.

The generative side: a toy VQA set drawn in the same world; open-ended VQA fine-tuned from (a),
(b), (c) and (d) generative only (same seed and schedule) and ``tools/test.py`` with the
official VQA accuracy; greedy captions of held-out images by the pretrained (a) and (d).

Over seeds (``seeds``): every training stage again under ``randomness.seed=k``, its names, work
dirs and checkpoints ending ``.seed<k>`` (seed 0 keeps the one-seed names). Ablations
(``ablations``): more pretraining arms, each one change to (a) (:data:`ABLATION_VARIANTS`), with
the downstream stages their claims need, and the moving-dot video arms (tubes, frames only):
recognizer -> VideoQA from its encoder; :mod:`.seeds_report` compares them.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import os.path as osp
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from mmengine.config import Config

from . import report as rep
from .actions import copy_last_checkpoint, crop_boxes, draw_world, write_video_sets, write_vqa_set
from .experiment_report import write_experiment_report
from .pipeline import Pipeline, Stage, schedule_estimate
from .settings import (
    ABLATION_VARIANTS,
    CAPTION_VARIANTS,
    CROP_MARGIN,
    DETECTOR_CONFIG,
    ENV_VAR,
    NOMINAL_CPU_SECONDS,
    PROFILES,
    VARIANTS,
    VIDEO_ARMS,
    VIDEO_CONFIG,
    VIDEOQA_CONFIG,
    VLM_SETTINGS,
    VLM_VARIANT,
    VQA_CONFIG,
    ZERO_SHOT_CONFIG,
    Variant,
    VideoArm,
    seed_suffix,
)
from .world import world_classes


@functools.cache
def resolved_config(path: str, experiment_dir: str) -> Config:
    """The config at ``path`` (bases included) as the tools see it for ``experiment_dir``
    (read once per process; do not modify it)."""
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = experiment_dir
    try:
        return Config.fromfile(path, import_custom_modules=False)
    finally:
        if old is None:
            del os.environ[ENV_VAR]
        else:
            os.environ[ENV_VAR] = old


@functools.cache
def config_digest(path: str, experiment_dir: str) -> str:
    """Hash of the fully resolved config (bases included), so that editing any of them reruns
    the stages that use it."""
    text = resolved_config(path, experiment_dir).pretty_text
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Experiment:
    """Builds the stages of one experiment folder.

    Args:
        out_dir: the experiment folder (absolute or relative to ``root``).
        profile: ``'default'`` or ``'quick'``.
        root: the repository root (the tools are run from there).
        python: the interpreter that runs the tools.
        jobs: stages the pipeline runs side by side (for the report's time estimate).
        seeds: training seeds (``randomness.seed``) every stage with randomness runs under; the
            world is drawn once. Seed 0's stages are the main job's.
        ablations: also the design-choice arms (:data:`ABLATION_VARIANTS`) and the video arms.
    """

    def __init__(self, out_dir: str, profile: str, root: str, python: str = sys.executable,
                 jobs: int = 2, seeds: Sequence[int] = (0,), ablations: bool = False) -> None:
        if profile not in PROFILES:
            raise ValueError(f'unknown profile {profile!r}; choose one of {list(PROFILES)}')
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f'seeds must be distinct and >= 0, got {list(seeds)}')
        self.profile = PROFILES[profile]
        self.root = root
        self.python = python
        self.jobs = jobs
        self.seeds = tuple(seeds)
        self.ablations = ablations
        self.variants = VARIANTS + (ABLATION_VARIANTS if ablations else ())
        absolute = osp.abspath(osp.join(root, out_dir))
        rel = osp.relpath(absolute, root)
        self.out = absolute if rel.startswith('..') else rel  # as the tools see it (cwd=root)
        self.classes = world_classes(self.profile.world.classes)
        self.pipeline_stages: list[Stage] = []  # filled by stages()
        self.stage_names: list[str] = []
        #: VLM setting key -> the test stage of detector (a) under it, for seed 0 (the names of
        #: another seed end with its suffix)
        self.vlm_stages: dict[str, str] = {}

    @property
    def multi_seed(self) -> bool:
        """Whether the report aggregates over seeds (``--seeds`` > 1 or ``--ablations``)."""
        return len(self.seeds) > 1 or self.ablations

    def cli_flags(self) -> str:
        """The ``tools/run_experiment.py`` flags that build this experiment."""
        flags = ' --quick' if self.profile.name == 'quick' else ''
        if self.ablations:
            flags += ' --ablations'
        if self.seeds != tuple(range(3 if self.ablations else 1)):
            flags += f' --seeds {len(self.seeds)}'
        return flags

    def expected_seconds(self, pipeline: Pipeline) -> tuple[float, int]:
        """How long ``pipeline.run()`` should take on a quiet machine, and how many stages it
        will run: each stage not done yet takes the CPU seconds it took when it last ran in this
        folder, else :data:`NOMINAL_CPU_SECONDS` of its kind, scheduled as the pipeline does."""
        nominal = NOMINAL_CPU_SECONDS[self.profile.name]
        seconds, todo = {}, 0
        for stage in self.pipeline_stages:
            if not stage.always and pipeline.marker(stage.name) is not None:
                seconds[stage.name] = 0.0
                continue
            todo += 1
            base = stage.name.split('.')[0]
            seconds[stage.name] = float(nominal.get(base, nominal.get(base.split('_')[0], 0)))
            try:
                with open(pipeline.marker_path(stage.name)) as f:
                    seconds[stage.name] = float(json.load(f)['cpu_seconds'])
            except (OSError, ValueError, KeyError):
                pass
        return schedule_estimate(self.pipeline_stages, seconds, self.jobs), todo

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
                     settings=dict(margin=CROP_MARGIN)),
               Stage('vqa_data', 'draw the toy VQA set in the world (VQAv2 layout), check its '
                                 'token lengths, majority-answer baselines',
                     deps=('world',), action=self._make_vqa,
                     settings=dict(vqa=self.profile.vqa.to_dict(), config=config_digest(
                         osp.join(self.root, self.profile.config(VQA_CONFIG)), self.out)))]
        if self.ablations:
            out.append(Stage('video_data', 'draw the moving-dot clips (recognition) and the '
                                           'VideoQA set on them', action=self._make_video,
                             settings=self.profile.video.to_dict()))
        for seed in self.seeds:
            for v in self.variants:
                out += self._variant_stages(v, seed)
            if self.ablations:
                for arm in VIDEO_ARMS:
                    out += self._video_stages(arm, seed)
        out.append(Stage('report', 'AP and VQA tables, captions, loss curves, detection grid'
                         + (', means over seeds, paired differences' if self.multi_seed
                            else '') + ' -> report.md',
                         deps=tuple(s.name for s in out), action=self._report, always=True))
        self.pipeline_stages = out
        self.stage_names = [s.name for s in out]
        return out

    def _train_stage(self, name: str, title: str, config: str, deps: tuple[str, ...],
                     dest: str, options: list[str], seed: int) -> Stage:
        work = self.path(name)
        command = [self.python, 'tools/train.py', config, '--work-dir', work]
        if seed != 0:  # seed 0 is the configs' own: its command stays the main job's
            options = [*options, f'randomness.seed={seed}']
        if options:
            command += ['--cfg-options', *options]

        def collect() -> dict:
            ckpt = copy_last_checkpoint(osp.join(self.root, work), osp.join(self.root, dest))
            return dict(checkpoint=osp.relpath(ckpt, self.root), work_dir=work)

        return Stage(name, title + (f' (seed {seed})' if seed else ''), deps=deps,
                     command=command, collect=collect, clean=(osp.join(self.root, work),),
                     settings=dict(config=config_digest(osp.join(self.root, config),
                                                        self.out)))

    def mammut_checkpoint(self, v: Variant, seed: int = 0) -> str:
        """Where variant ``v``'s pretrained MaMMUT of ``seed`` is kept."""
        return self.path('checkpoints', f'mammut_{v.key}{seed_suffix(seed)}.pth')

    def _variant_stages(self, v: Variant, seed: int) -> list[Stage]:
        stages = []
        sfx = seed_suffix(seed)
        if v.pretrain is not None:
            passes = {'two-pass': 'both passes (contrastive + captioning)',
                      'contrastive': 'the contrastive pass only (generative weight 0)',
                      'generative': 'the generative pass only (contrastive weight 0)'}.get(
                          v.key, f'both passes, {v.label[v.label.index(" ") + 1:]}')
            stages.append(self._train_stage(
                f'pretrain_{v.key}{sfx}', f'pretrain MaMMUT on the image-caption pairs with '
                f'{passes}', self.profile.config(v.pretrain), ('world',),
                self.mammut_checkpoint(v, seed), [*v.model_options, *v.options], seed))
        if v.detection:
            stages += self._detection_stages(v, seed)
        if v.vqa:
            stages += self._vqa_stages(v, seed)
        if v.key in CAPTION_VARIANTS:
            stages.append(self._caption_stage(v, seed))
        return stages

    def _detection_stages(self, v: Variant, seed: int) -> list[Stage]:
        """Zero-shot classification of the evaluation boxes (pretrained variants), the detector
        fine-tuned from ``v``, its LVIS test, inference (seed 0 of the main variants only: a
        picture, no number) and the VLM-score comparison."""
        p = self.profile
        sfx = seed_suffix(seed)
        det_config = p.config(DETECTOR_CONFIG)
        stages = []
        if v.pretrain is not None:
            mammut = self.mammut_checkpoint(v, seed)
            stages.append(self._zero_shot_stage(v, mammut, seed))
            init = [f'model.backbone.init_cfg.checkpoint={mammut}',
                    f'model.class_embedder.init_cfg.checkpoint={mammut}']
            det_deps = ('world', f'pretrain_{v.key}{sfx}')
        else:
            init = ['model.backbone.init_cfg=None', 'model.class_embedder.init_cfg=None']
            det_deps = ('world',)
        detector = self.path('checkpoints', f'detector_{v.key}{sfx}.pth')
        # the detector compared across VLM settings keeps the frozen pretrained tower (training
        # never runs it), so that one checkpoint serves (i) and (ii)
        keep_tower = ['model.vlm_score.source=pretrained'] if v.key == VLM_VARIANT else []
        stages.append(self._train_stage(
            f'detector_{v.key}{sfx}', f'{v.tag} fine-tune the detector on the base classes '
                                      f'from {v.source}', det_config, det_deps, detector,
            init + keep_tower, seed))
        stages.append(self._test_stage(f'test_{v.key}{sfx}', f'LVIS box AP of detector '
                                       f'{v.tag} on all classes', detector,
                                       (f'detector_{v.key}{sfx}',), []))
        if seed == 0 and v in VARIANTS:  # the report's detection grid
            stages.append(self._infer_stage(v, detector))
        if v.key == VLM_VARIANT:
            stages += self._vlm_stages(v, init, det_deps, detector, seed)
        return stages

    def _infer_stage(self, v: Variant, detector: str) -> Stage:
        p = self.profile
        infer_dir = self.path(f'infer_{v.key}')
        texts = ', '.join(c.name for c in self.classes)

        def collect_infer() -> dict:
            with open(osp.join(self.root, infer_dir, 'summary.json')) as f:
                summary = json.load(f)
            return dict(num_images=summary['num_processed'],
                        num_detections=summary['num_detections'])

        return Stage(
            f'infer_{v.key}', f'detector {v.tag} on the held-out images, vocabulary typed',
            deps=(f'detector_{v.key}',),
            command=[self.python, 'tools/infer.py', p.config(DETECTOR_CONFIG), detector,
                     self.path('world', 'infer'), '--out-dir', infer_dir, '--texts', texts,
                     '--score-thr', str(p.score_thr), '--device', 'cpu'],
            collect=collect_infer, clean=(osp.join(self.root, infer_dir),))

    def _test_stage(self, name: str, title: str, detector: str, deps: tuple[str, ...],
                    options: list[str]) -> Stage:
        """tools/test.py of ``detector`` (with ``--cfg-options``); its LVIS metrics also go to
        ``metrics/<name without test_>.json``."""
        test_dir = self.path(name)
        command = [self.python, 'tools/test.py', self.profile.config(DETECTOR_CONFIG), detector,
                   '--work-dir', test_dir, '--out', osp.join(test_dir, 'detections.pkl')]
        if options:
            command += ['--cfg-options', *options]

        def collect_metrics() -> dict:
            metrics = rep.read_test_metrics(osp.join(self.root, test_dir))
            path = self.abspath('metrics', f'{name[len("test_"):]}.json')
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=1)
            return dict(metrics=metrics)

        return Stage(name, title, deps=deps, command=command, collect=collect_metrics,
                     clean=(osp.join(self.root, test_dir),))

    def vlm_stage(self, key: str, seed: int = 0) -> str:
        """The test stage of detector (a) of ``seed`` under VLM setting ``key``."""
        return self.vlm_stages[key] + seed_suffix(seed)

    def _vlm_stages(self, v: Variant, init: list[str], det_deps: tuple[str, ...],
                    detector: str, seed: int) -> list[Stage]:
        """Detector ``v`` tested under each of :data:`VLM_SETTINGS`: the preset's own source is
        its ``test_`` stage; the other source tests the same weights; F-VLM's frozen backbone
        trains a detector of its own (same seed and schedule)."""
        sfx = seed_suffix(seed)
        det_config = self.profile.config(DETECTOR_CONFIG)
        cfg = resolved_config(osp.join(self.root, det_config), self.out)
        default = cfg.model.vlm_score.get('source', 'backbone')
        stages = []
        for s in VLM_SETTINGS:
            options = [f'model.vlm_score.source={s.source}']
            if s.frozen_backbone:
                options.append(f'model.backbone.frozen_stages={cfg.model.backbone.depth}')
                weights = self.path('checkpoints', f'detector_{v.key}-{s.key}{sfx}.pth')
                stages.append(self._train_stage(
                    f'detector_{v.key}-{s.key}{sfx}', f'{v.tag} fine-tuned with '
                    f'{s.label.split(" ", 1)[1]} (every block)', det_config, det_deps, weights,
                    init + options, seed))
                deps = (f'detector_{v.key}-{s.key}{sfx}',)
            elif s.source == default:
                self.vlm_stages[s.key] = f'test_{v.key}'
                continue
            else:
                weights, deps = detector, (f'detector_{v.key}{sfx}',)
            name = f'test_{v.key}-vlm-{s.key}'
            stages.append(self._test_stage(name + sfx, f'LVIS box AP of detector {v.tag}, '
                                           f'VLM score from {s.label}', weights, deps, options))
            self.vlm_stages[s.key] = name
        return stages

    def _zero_shot_stage(self, v: Variant, mammut: str, seed: int) -> Stage:
        sfx = seed_suffix(seed)
        work = self.path(f'zeroshot_{v.key}{sfx}')
        out = osp.join(work, 'predictions.pkl')
        frequencies = [c.frequency for c in self.classes]
        command = [self.python, 'tools/test.py', ZERO_SHOT_CONFIG, mammut, '--work-dir', work,
                   '--out', out]
        if v.model_options:
            command += ['--cfg-options', *v.model_options]

        def collect() -> dict:
            return dict(accuracy=rep.zero_shot_accuracy(osp.join(self.root, out), frequencies))

        return Stage(
            f'zeroshot_{v.key}{sfx}', f'zero-shot classification of the evaluation boxes by the '
                                      f'{v.key} MaMMUT (no detector, all classes named in text)',
            deps=('crops', f'pretrain_{v.key}{sfx}'), command=command,
            collect=collect, clean=(osp.join(self.root, work),),
            settings=dict(config=config_digest(osp.join(self.root, ZERO_SHOT_CONFIG), self.out)))

    def _vqa_stages(self, v: Variant, seed: int) -> list[Stage]:
        """VQA fine-tuned from ``v`` (``tools/train.py``, ``load_from`` its pretrained MaMMUT)
        and tested (``tools/test.py``, the official VQA accuracy on the val questions; the
        answers in the submission format and the scores as JSON beside)."""
        sfx = seed_suffix(seed)
        config = self.profile.config(VQA_CONFIG)
        weights = self.path('checkpoints', f'vqa_{v.key}{sfx}.pth')
        if v.pretrain is None:
            init, deps = [], ('vqa_data',)
        else:
            init, deps = [f'load_from={self.mammut_checkpoint(v, seed)}'], (
                'vqa_data', f'pretrain_{v.key}{sfx}')
        train = self._train_stage(f'vqa_{v.key}{sfx}', f'{v.tag} fine-tune open-ended VQA '
                                  f'from {v.source}', config, deps, weights,
                                  [*v.model_options, *init], seed)
        test_dir = self.path(f'test-vqa_{v.key}{sfx}')
        scores = osp.join(test_dir, 'scores.json')

        def collect() -> dict:
            with open(osp.join(self.root, scores)) as f:
                data = json.load(f)
            return {k: data[k] for k in ('overall', 'perAnswerType', 'perQuestionType')}

        test = Stage(
            f'test-vqa_{v.key}{sfx}', f'official VQA accuracy of VQA model {v.tag} on the '
                                      'val questions',
            deps=(f'vqa_{v.key}{sfx}',),
            command=[self.python, 'tools/test.py', config, weights, '--work-dir', test_dir,
                     '--cfg-options', *v.model_options, f'test_evaluator.scores_file={scores}',
                     f'test_evaluator.results_file={osp.join(test_dir, "results.json")}'],
            collect=collect, clean=(osp.join(self.root, test_dir),))
        return [train, test]

    def _caption_stage(self, v: Variant, seed: int) -> Stage:
        """Greedy captions of the held-out pretraining images by ``v``'s pretrained MaMMUT
        (``tools/test.py`` of its pretraining config with ``model.test_cfg.generate_captions``,
        predictions dumped), scored by the classes they name."""
        sfx = seed_suffix(seed)
        work = self.path(f'captions_{v.key}{sfx}')
        out = osp.join(work, 'predictions.pkl')
        config = self.profile.config(v.pretrain)

        def collect() -> dict:
            return rep.caption_naming(osp.join(self.root, out),
                                      self.abspath('world', 'pretrain', 'val.jsonl'),
                                      self.classes, self.profile.num_captions)

        return Stage(
            f'captions_{v.key}{sfx}', f'greedy captions of the held-out images by the {v.key} '
                                      'MaMMUT',
            deps=(f'pretrain_{v.key}{sfx}',),
            command=[self.python, 'tools/test.py', config, self.mammut_checkpoint(v, seed),
                     '--work-dir', work, '--out', out, '--cfg-options',
                     'model.test_cfg.generate_captions=True'],
            collect=collect, clean=(osp.join(self.root, work),),
            settings=dict(config=config_digest(osp.join(self.root, config), self.out)))

    def _video_stages(self, arm: VideoArm, seed: int) -> list[Stage]:
        """The moving-dot recognizer of ``arm`` (its top-1 from the validation at the end of
        training) and VideoQA with the encoder initialised from it (its accuracy likewise)."""
        sfx = seed_suffix(seed)
        p = self.profile
        init = self.path('checkpoints', f'video_{arm.key}{sfx}.pth')
        recognizer = self._train_stage(
            f'video_{arm.key}{sfx}', f'train the moving-dot recognizer with {arm.label}',
            p.config(VIDEO_CONFIG), ('video_data',), init,
            [] if arm.use_tubes else ['model.backbone.use_tubes=False'], seed)
        videoqa = self._train_stage(
            f'videoqa_{arm.key}{sfx}', f'fine-tune VideoQA on the moving-dot clips with '
                                       f'{arm.label}, the encoder from the recognizer',
            p.config(VIDEOQA_CONFIG), ('video_data', recognizer.name),
            self.path('checkpoints', f'videoqa_{arm.key}{sfx}.pth'),
            [f'model.vision.init_cfg.checkpoint={init}',
             *([] if arm.use_tubes else ['model.vision.use_tubes=False'])], seed)
        for stage, key in ((recognizer, 'acc/top1'), (videoqa, 'videoqa/accuracy')):
            stage.collect = self._with_val_metric(stage.collect, stage.name, key)
        return [recognizer, videoqa]

    def _with_val_metric(self, collect: Callable[[], dict], name: str,
                         key: str) -> Callable[[], dict]:
        """``collect`` that also returns the last validation value of ``key`` of stage ``name``'s
        training run (its ``vis_data/scalars.json``)."""
        def wrapped() -> dict:
            value = rep.last_value(rep.read_scalars(self.abspath(name)), key)
            if value is None:
                raise KeyError(f'{self.path(name)}: no {key} in the training log')
            return dict(collect(), metric=value)
        return wrapped

    # -- in-process stages -------------------------------------------------------------------
    def _make_vqa(self, log: TextIO) -> dict:
        cfg = resolved_config(osp.join(self.root, self.profile.config(VQA_CONFIG)), self.out)
        return write_vqa_set(self.abspath('vqa'), self.profile.world, self.profile.vqa,
                             cfg.model, log)

    def _make_video(self, log: TextIO) -> dict:
        return write_video_sets(self.abspath('video'), self.abspath('videoqa'),
                                self.profile.video, log)

    def _make_world(self, log: TextIO) -> dict:
        return draw_world(self.abspath('world'), self.profile.world, self.classes, log)

    def _make_crops(self, log: TextIO) -> dict:
        return crop_boxes(self.abspath('world'), self.abspath('zeroshot'), self.classes,
                          CROP_MARGIN, log)

    def _report(self, log: TextIO) -> dict:
        return write_experiment_report(self, log)
