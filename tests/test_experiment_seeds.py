"""The experiment over seeds and its ablations, without running them: the paired-difference
interval and its verdict against hand-computed values, the stages the seeds and the ablation arms
add, and each arm's ``--cfg-options`` landing where they should in the configs the tools build."""
from __future__ import annotations

import os
import os.path as osp

import pytest
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS

from mammut_det.experiment import Experiment, Pipeline
from mammut_det.experiment.experiment import resolved_config
from mammut_det.experiment.seeds_report import arm_labels, mean_sd, paired_interval, verdict
from mammut_det.experiment.settings import ABLATION_VARIANTS, CLAIMS, VIDEO_ARMS
from mammut_det.text import BPETokenizer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_mean_sd_and_paired_interval_match_hand_computed_values():
    assert mean_sd([1.0, 2.0, 6.0]) == pytest.approx((3.0, 7 ** 0.5))  # (4 + 1 + 9) / 2
    assert mean_sd([4.0]) == (4.0, None)
    # differences 2, 4, 9: mean 5, sd sqrt(13), t(0.975, 2 dof) = 4.3027 (a t table)
    diff, lo, hi = paired_interval([12.0, 14.0, 19.0], [10.0, 10.0, 10.0])
    half = 4.3027 * 13 ** 0.5 / 3 ** 0.5
    assert diff == pytest.approx(5.0)
    assert (lo, hi) == pytest.approx((5 - half, 5 + half), abs=1e-3)
    # the pairing matters: a shift shared by both arms cancels
    diff, lo, hi = paired_interval([50.0, 70.0, 90.0], [49.0, 69.0, 89.0])
    assert (diff, lo, hi) == pytest.approx((1.0, 1.0, 1.0))
    assert paired_interval([3.0], [1.0]) == (2.0, None, None)
    with pytest.raises(ValueError, match='same seeds'):
        paired_interval([1.0, 2.0], [1.0])


@pytest.mark.parametrize('lo, hi, sign, expected', [
    (0.5, 2.0, 1, 'reproduced'), (-2.0, -0.5, 1, 'reversed'), (-1.0, 1.0, 1, 'within noise'),
    (-2.0, -0.5, -1, 'reproduced'), (0.5, 2.0, -1, 'reversed'), (None, None, 1, 'one seed')])
def test_verdict(lo, hi, sign, expected):
    assert verdict(lo, hi, sign) == expected


@pytest.fixture(scope='module')
def ablations(tmp_path_factory) -> Experiment:
    exp = Experiment(str(tmp_path_factory.mktemp('ablations')), 'quick', ROOT,
                     seeds=range(3), ablations=True)
    exp.stages()
    # the models are built below; they need the world's tokenizer file, not its scenes
    os.makedirs(exp.abspath('world'))
    BPETokenizer.train(['a red circle left of a blue star'] * 4, 64,
                       exp.abspath('world', 'tokenizer.json'))
    return exp


def test_seeds_and_ablations_add_the_stages_of_every_arm_and_seed(ablations):
    names = set(ablations.stage_names)
    for seed, sfx in ((0, ''), (1, '.seed1'), (2, '.seed2')):
        for v in ABLATION_VARIANTS:
            assert f'pretrain_{v.key}{sfx}' in names
            assert (f'test_{v.key}{sfx}' in names) == v.detection
            assert (f'test-vqa_{v.key}{sfx}' in names) == v.vqa
        for arm in VIDEO_ARMS:
            assert {f'video_{arm.key}{sfx}', f'videoqa_{arm.key}{sfx}'} <= names
        assert f'test_two-pass-vlm-frozen{sfx}' in names
        assert ablations.vlm_stage('frozen', seed) == f'test_two-pass-vlm-frozen{sfx}'
    # pictures only once; the world drawn once
    assert 'infer_two-pass' in names and not any(n.startswith('infer_') and '.seed' in n
                                                 for n in names)
    assert not any(n.startswith(('infer_no-cpe', 'world.', 'vqa_data.')) for n in names)
    labels = arm_labels(ablations)
    for c in CLAIMS:  # every claim compares arms that exist
        assert c.arm in labels and c.base in labels, c
    pipeline = Pipeline(ablations.abspath(), ablations.pipeline_stages, env=ablations.env)
    seconds, todo = ablations.expected_seconds(pipeline)
    assert todo == len(names) and seconds > 0


def _command(exp: Experiment, name: str) -> list[str]:
    return next(s.command for s in exp.pipeline_stages if s.name == name)


def _config(exp: Experiment, name: str) -> Config:
    """The config the stage's tool builds: its file and its ``--cfg-options``."""
    command = _command(exp, name)
    cfg = resolved_config(osp.join(ROOT, command[2]), exp.out).copy()
    if '--cfg-options' in command:
        options = command[command.index('--cfg-options') + 1:]
        cfg.merge_from_dict({k: DictAction._parse_iterable(v)
                             for k, v in (o.split('=', 1) for o in options)})
    return cfg


def test_each_arm_changes_what_it_says_and_nothing_else(ablations):
    base = _config(ablations, 'pretrain_two-pass.seed1')
    assert base.randomness.seed == 1
    hook = base.custom_hooks[0]
    assert hook.cpe_begin == 0.5 and dict(hook.weights) == dict(contrastive=1.0, generative=1.0)
    assert _config(ablations, 'pretrain_no-cpe').custom_hooks[0].cpe_begin is None
    assert _config(ablations, 'pretrain_infonce').model.contrastive_loss == 'infonce'
    assert base.model.contrastive_loss == 'focal'
    assert dict(_config(ablations, 'pretrain_weights-2-1').custom_hooks[0].weights) == dict(
        contrastive=2.0, generative=1.0)
    assert dict(_config(ablations, 'pretrain_weights-1-2').custom_hooks[0].weights) == dict(
        contrastive=1.0, generative=2.0)
    for n in (1, 2, 4):
        for stage in (f'pretrain_xattn-{n}', f'vqa_xattn-{n}', f'test-vqa_xattn-{n}'):
            cfg = _config(ablations, stage)
            text = MODELS.build(cfg.model).text
            assert len(text.resblocks) == 4 and len(text.cross_attn) == n, stage
    assert len(MODELS.build(base.model).text.cross_attn) == 1  # the default: 2 layers, 1 block
    video = _config(ablations, 'video_frames.seed2')
    assert video.model.backbone.use_tubes is False and video.randomness.seed == 2
    assert _config(ablations, 'video_tubes').model.backbone.use_tubes is True
    videoqa = _config(ablations, 'videoqa_frames')
    assert videoqa.model.vision.use_tubes is False
    assert videoqa.model.vision.init_cfg.checkpoint == ablations.path('checkpoints',
                                                                      'video_frames.pth')
    assert ablations.cli_flags() == ' --quick --ablations'
