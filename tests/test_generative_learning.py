"""The generative tasks learn on their toy sets with the tiny MaMMUT, through the toy configs and
MMEngine's Runner: open-ended VQA beats the majority-answer baselines, captioning's CIDEr rises,
and VideoQA tells which way a dot moves with tubes but not with frames alone."""
from __future__ import annotations

import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mammut_det.captioning import make_toy_karpathy
from mammut_det.video.toy import make_moving_dataset
from mammut_det.vqa import majority_baseline, make_toy_videoqa, make_toy_vqa

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def toy_config(config: str, work_dir, tokenizer: str, **loaders: dict) -> Config:
    """A toy config with its data paths replaced (``loaders``: loader name -> dataset
    overrides), single-process loading and no test loop."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    cfg.model.tokenizer.path = tokenizer
    for name, dataset in loaders.items():
        cfg[name].update(num_workers=0, persistent_workers=False)
        cfg[name].dataset.update(dataset)
        for t in cfg[name].dataset.pipeline:
            if t['type'] == 'TokenizePrompted':
                t['tokenizer']['path'] = tokenizer
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(work_dir)
    return cfg


def val_scalars(runner: Runner) -> dict[str, float]:
    return {k[len('val/'):]: float(v.current()) for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('val/')}


@pytest.mark.slow
def test_toy_vqa_beats_the_majority_answer_baselines(tmp_path, one_thread):
    data = str(tmp_path / 'toy_vqa')
    files = make_toy_vqa(data)
    baselines = majority_baseline(files['val']['questions'], files['val']['annotations'],
                                  files['train']['annotations'])
    split = {s: dict(data_root=data + '/', ann_file=osp.basename(files[s]['questions']),
                     answer_file=osp.basename(files[s]['annotations'])) for s in ('train', 'val')}
    cfg = toy_config('vqa/mammut-tiny_toy-vqa.py', tmp_path / 'work', data + '/tokenizer.json',
                     train_dataloader=split['train'], val_dataloader=split['val'])
    runner = Runner.from_cfg(cfg)
    runner.train()
    got = val_scalars(runner)
    majority = baselines['overall_majority']
    per_type = baselines['per_type_majority']
    print(f'\ntoy VQA accuracy after {cfg.train_cfg.max_iters} iterations from scratch: '
          f'{got["vqa/accuracy"]:.2f} (other {got["vqa/accuracy_other"]:.2f}, number '
          f'{got["vqa/accuracy_number"]:.2f}, yes/no {got["vqa/accuracy_yes_no"]:.2f}); '
          f'majority answer {majority["answer"]!r}: {majority["overall"]:.2f}; majority answer '
          f'per question type: {per_type["overall"]:.2f} (other '
          f'{per_type["perAnswerType"]["other"]:.2f})')
    assert got['vqa/accuracy'] >= majority['overall'] + 25
    assert got['vqa/accuracy'] >= per_type['overall'] + 3
    # colours and shapes are read from the image, not guessed from the question
    assert got['vqa/accuracy_other'] >= per_type['perAnswerType']['other'] + 8


@pytest.mark.slow
def test_toy_captioning_cider_rises(tmp_path, one_thread):
    ann = make_toy_karpathy(str(tmp_path / 'toy_karpathy'))
    data = dict(data_root=osp.dirname(ann) + '/')
    cfg = toy_config('captioning/mammut-tiny_toy-karpathy.py', tmp_path / 'work',
                     osp.join(osp.dirname(ann), 'tokenizer.json'), train_dataloader=data,
                     val_dataloader=data)
    runner = Runner.from_cfg(cfg)
    before = runner.val()['caption/CIDEr']
    runner.train()
    after = val_scalars(runner)
    print(f'\ntoy captioning, CIDEr before {before:.1f}, after {cfg.train_cfg.max_iters} '
          f'iterations {after["caption/CIDEr"]:.1f} (BLEU-4 {after["caption/Bleu_4"]:.1f}, '
          f'ROUGE-L {after["caption/ROUGE_L"]:.1f})')
    assert before < 10
    assert after['caption/CIDEr'] > 100


def video_runner(cfg: Config, work_dir, max_epochs: int | None = None) -> Runner:
    """Train ``cfg`` (for ``max_epochs`` with one epoch of warm-up then cosine, when given)
    keeping its last checkpoint; returns the runner."""
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = max_epochs
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True,
                 begin=1, end=max_epochs, convert_to_iter_based=True)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=cfg.train_cfg.max_epochs,
                                        save_best=None, max_keep_ckpts=1)
    cfg.work_dir = str(work_dir)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.slow
def test_toy_videoqa_tells_the_direction_with_tubes_not_with_frames(tmp_path, one_thread):
    """Stage 1 trains the tube video encoder on another moving-dot set (motion classification,
    configs/video/tube_mammut_tiny_toy.py), as video models start from a video-pretrained
    encoder; stage 2 fine-tunes VideoQA from it twice, with tubes and with frames only. Through
    the generative loss alone the tiny encoder learns motion far more slowly (README)."""
    moving = str(tmp_path / 'moving')
    make_moving_dataset(moving, num_train=256, num_val=64, seed=5)
    rec = Config.fromfile(osp.join(ROOT, 'configs/video/tube_mammut_tiny_toy.py'))
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val')):
        rec[loader].dataset.update(ann_file=osp.join(moving, f'{split}.txt'),
                                   data_prefix=dict(video=osp.join(moving, 'videos')))
    rec.test_dataloader = rec.test_cfg = rec.test_evaluator = None
    video_runner(rec, tmp_path / 'recognizer')
    encoder = str(tmp_path / 'recognizer' / 'epoch_12.pth')

    qa = make_toy_videoqa(str(tmp_path / 'toy_videoqa'), vocab_size=400)
    tokenizer = osp.join(osp.dirname(qa['train']), 'tokenizer.json')
    acc = {}
    for arm in ('tube', 'frames'):
        cfg = toy_config(f'videoqa/mammut-tiny_{arm}_toy-videoqa.py', tmp_path / arm, tokenizer,
                         train_dataloader=dict(ann_file=qa['train'],
                                               data_prefix=dict(video=qa['videos'])),
                         val_dataloader=dict(ann_file=qa['val'],
                                             data_prefix=dict(video=qa['videos'])))
        cfg.model.vision.init_cfg = dict(type='Pretrained', checkpoint=encoder, prefix='backbone.')
        acc[arm] = val_scalars(video_runner(cfg, tmp_path / arm, 6))
    print('\ntoy VideoQA after 6 epochs from the motion-trained encoder, '
          '"which way does the dot move?" (chance 50) / "what colour is the dot?": '
          + ', '.join(f'{arm} {a["videoqa/accuracy_which"]:.1f} / {a["videoqa/accuracy_what"]:.1f}'
                      for arm, a in acc.items()))
    assert acc['tube']['videoqa/accuracy_which'] >= 80
    assert acc['frames']['videoqa/accuracy_which'] <= 65
