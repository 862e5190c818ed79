"""CheckedVideoDataset with the decord pipeline of the toy config: list checks, bad videos."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.fileio import load
from mmengine.registry import TRANSFORMS, DefaultScope
from mmengine.runner import Runner

from mammut_det.video import CheckedVideoDataset, VideoReadError
from mammut_det.video.toy import render_moving_clip, write_mp4

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_DATA = osp.join(ROOT, 'configs/_base_/datasets/toy_video.py')
TOY_MODEL = osp.join(ROOT, 'configs/video/tube_mammut_tiny_toy.py')
CLASSES = ('moving left', 'moving right')


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> str:
    """Good 16-frame clips, a 5-frame clip, a corrupt (random bytes), a truncated, an empty and a
    frameless mp4."""
    root = str(tmp_path_factory.mktemp('videos'))
    rng = np.random.default_rng(0)
    for i in range(6):
        write_mp4(osp.join(root, f'ok{i}.mp4'), render_moving_clip(i % 2 == 1, rng))
    short = np.stack([np.full((32, 32, 3), 40 * t, np.uint8) for t in range(5)])
    write_mp4(osp.join(root, 'short.mp4'), short)
    with open(osp.join(root, 'corrupt.mp4'), 'wb') as f:
        f.write(os.urandom(4096))
    open(osp.join(root, 'empty.mp4'), 'wb').close()
    with open(osp.join(root, 'ok0.mp4'), 'rb') as f:
        head = f.read()
    with open(osp.join(root, 'truncated.mp4'), 'wb') as f:
        f.write(head[:len(head) // 2])
    writer = cv2.VideoWriter(osp.join(root, 'noframes.mp4'), cv2.VideoWriter_fourcc(*'mp4v'),
                             8, (32, 32))
    writer.release()
    return root


def make_dataset(videos: str, lines: list[str], test_mode: bool = False, **kwargs):
    ann = osp.join(videos, f'ann_{abs(hash(tuple(lines)))}.txt')
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    cfg = Config.fromfile(TOY_DATA)
    pipeline = cfg.val_pipeline if test_mode else cfg.train_pipeline
    kwargs.setdefault('classes', CLASSES)
    with DefaultScope.overwrite_default_scope('mmaction'):  # the transforms are MMAction2's
        ds = CheckedVideoDataset(ann_file=ann, pipeline=pipeline, data_prefix=dict(video=videos),
                                 test_mode=test_mode, **kwargs)
    return ds, ann


def test_good_list_with_index_and_name_labels(videos):
    ds, _ = make_dataset(videos, ['ok0.mp4 0', 'ok1.mp4 moving right', '', 'ok2.mp4 1'])
    assert len(ds) == 3
    assert [ds.get_data_info(i)['label'] for i in range(3)] == [0, 1, 1]
    assert [ds.get_data_info(i)['ann_line'] for i in range(3)] == [1, 2, 4]
    assert ds.metainfo['classes'] == list(CLASSES)
    sample = ds[0]
    assert sample['inputs'].shape == (1, 3, 16, 32, 32)
    assert int(sample['data_samples'].gt_label) == 0


@pytest.mark.parametrize('lines, error, message', [
    (['ok0.mp4 0', 'ok1.mp4 5'], ValueError, r'ann_\d+\.txt, line 2: label 5 is not a class '
                                             r'index \[0, 2\)'),
    (['ok0.mp4 -1'], ValueError, r'line 1: label -1'),
    (['ok0.mp4 0', 'ok1.mp4 jumping'], ValueError, r"line 2: unknown label 'jumping'"),
    (['ok0.mp4 0', 'ok1.mp4 1', 'gone.mp4 1'], FileNotFoundError,
     r'line 3: video .*gone\.mp4 does not exist'),
    (['ok0.mp4'], ValueError, r'line 1: expected "path label"'),
])
def test_bad_annotation_lines_name_file_and_line(videos, lines, error, message):
    with pytest.raises(error, match=message):
        make_dataset(videos, lines)


def test_labels_without_classes_need_num_classes_bounds(videos):
    ds, _ = make_dataset(videos, ['ok0.mp4 3'], classes=None, num_classes=4)
    assert ds.get_data_info(0)['label'] == 3
    with pytest.raises(ValueError, match=r"line 1: label 'moving' is not an integer"):
        make_dataset(videos, ['ok0.mp4 moving'], classes=None, num_classes=4)


def test_missing_files_can_be_skipped_and_unlabelled_lines_allowed_in_test_mode(videos):
    ds, _ = make_dataset(videos, ['ok0.mp4 0', 'gone.mp4 1', 'ok1.mp4 1'], on_missing='skip')
    assert [ds.get_data_info(i)['filename'] for i in range(len(ds))] == [
        osp.join(videos, 'ok0.mp4'), osp.join(videos, 'ok1.mp4')]
    ds, _ = make_dataset(videos, ['ok0.mp4'], test_mode=True)
    assert ds.get_data_info(0)['label'] == -1


def test_short_video_is_looped(videos):
    ds, _ = make_dataset(videos, ['short.mp4 0'], test_mode=True)
    out = ds.pipeline(ds.get_data_info(0))
    assert out['inputs'].shape == (1, 3, 16, 32, 32)
    info = ds.get_data_info(0)
    for t in ds.pipeline.transforms[:2]:
        info = t(info)
    assert info['total_frames'] == 5
    assert info['frame_inds'].tolist() == [i % 5 for i in range(16)]
    clip = out['inputs'][0].float()  # C, T, H, W: frame t shows grey level 40 * (t % 5)
    assert torch.equal(clip[:, 0], clip[:, 5]) and torch.equal(clip[:, 3], clip[:, 13])
    assert clip[:, 4].mean() > clip[:, 0].mean() + 100


@pytest.mark.parametrize('name', ['corrupt.mp4', 'empty.mp4', 'noframes.mp4', 'truncated.mp4'])
def test_unreadable_video_stands_in_or_fails_clearly_in_test_mode(videos, name):
    ds, ann = make_dataset(videos, ['ok0.mp4 0', f'{name} 1', 'ok1.mp4 1'], test_mode=True)
    assert ds[0]['inputs'].shape == (1, 3, 16, 32, 32)
    assert ds[0]['data_samples'].get('unreadable') is None
    stand_in = ds[1]  # the next readable video, marked
    assert stand_in['data_samples'].unreadable == f'{videos}/{name} ({ann}, line 2)'
    assert torch.equal(stand_in['inputs'], ds[2]['inputs'])
    assert ds.num_skipped == 1
    ds, ann = make_dataset(videos, ['ok0.mp4 0', f'{name} 1'], test_mode=True,
                           on_unreadable='error')
    with pytest.raises(VideoReadError, match=rf'{name} \(.*{osp.basename(ann)}, line 2\)'):
        ds[1]


@TRANSFORMS.register_module(force=True)
class FailOnSecondVideo(BaseTransform):
    """A transform with a bug: RuntimeError (not a decoding error) on ok1.mp4."""

    def transform(self, results: dict) -> dict:
        if results['filename'].endswith('ok1.mp4'):
            raise RuntimeError('a bug in a transform')
        return results


@pytest.mark.parametrize('test_mode', [True, False])
def test_an_error_that_is_not_decoding_raises(videos, test_mode):
    ds, _ = make_dataset(videos, ['ok0.mp4 0', 'ok1.mp4 1'], test_mode=test_mode)
    ds.pipeline.transforms.insert(3, FailOnSecondVideo())  # after DecordDecode
    ds[0]
    with pytest.raises(RuntimeError, match='a bug in a transform'):
        ds.prepare_data(1)
    assert ds.num_skipped == 0


def test_unreadable_videos_are_skipped_and_counted_across_workers(videos):
    lines = ['ok0.mp4 0', 'corrupt.mp4 1', 'ok1.mp4 1', 'empty.mp4 0', 'ok2.mp4 0',
             'noframes.mp4 1', 'ok3.mp4 1', 'short.mp4 0']
    ds, _ = make_dataset(videos, lines)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                         collate_fn=pseudo_collate)
    batches = list(loader)
    assert sum(len(b['inputs']) for b in batches) == len(lines)  # every bad one was replaced
    assert all(x.shape == (1, 3, 16, 32, 32) for b in batches for x in b['inputs'])
    assert ds.num_skipped >= 3  # counted in the workers, read in the main process


def test_too_many_bad_videos_in_a_row_stop_training(videos):
    ds, _ = make_dataset(videos, ['corrupt.mp4 0', 'empty.mp4 1'], max_consecutive_skips=3)
    with pytest.raises(VideoReadError, match='4 unreadable videos in a row'):
        ds[0]


def test_training_epoch_survives_bad_videos_and_logs_the_count(videos, tmp_path):
    lines = ['ok0.mp4 0', 'ok1.mp4 1', 'corrupt.mp4 0', 'ok2.mp4 0', 'empty.mp4 1', 'ok3.mp4 1']
    _, ann = make_dataset(videos, lines)
    cfg = Config.fromfile(TOY_MODEL)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.update(ann_file=ann, data_prefix=dict(video=videos))
    cfg.train_dataloader.batch_size = 3
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    skipped = runner.message_hub.get_info('skipped_videos')
    assert skipped >= 2
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert f'epoch 1: skipped {skipped} unreadable videos ({skipped} since the start)' in log
    assert 'skipping unreadable video' in log and 'corrupt.mp4' in log


def test_kinetics_pipelines_give_32_frame_224_clips(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(40, 72, 96, 3), dtype=np.uint8)
    write_mp4(str(tmp_path / 'clip.mp4'), frames)
    with open(tmp_path / 'list.txt', 'w') as f:
        f.write('clip.mp4 399\n')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/kinetics400.py'))
    shapes = {}
    for split in ('train', 'val', 'test'):
        ds_cfg = cfg[f'{split}_dataloader'].dataset
        with DefaultScope.overwrite_default_scope('mmaction'):
            ds = CheckedVideoDataset(ann_file=str(tmp_path / 'list.txt'),
                                     data_prefix=dict(video=str(tmp_path)),
                                     num_classes=ds_cfg.num_classes, pipeline=ds_cfg.pipeline,
                                     test_mode=ds_cfg.get('test_mode', False))
        sample = ds[0]
        shapes[split] = tuple(sample['inputs'].shape)
        assert int(sample['data_samples'].gt_label) == 399
    assert shapes == {'train': (1, 3, 32, 224, 224), 'val': (1, 3, 32, 224, 224),
                      'test': (12, 3, 32, 224, 224)}  # 4 clips x 3 crops


def _test_tool(videos: str, ann: str, work: str, nproc: int) -> tuple[dict, str]:
    """tools/test.py (or tools/dist_test.sh) on the toy video config, random weights; returns
    the metrics of its JSON log and its text log."""
    options = [f'test_dataloader.dataset.ann_file={ann}', 'test_dataloader.batch_size=2',
               f'test_dataloader.dataset.data_prefix.video={videos}']
    tool = ([sys.executable, 'tools/test.py'] if nproc == 1 else
            ['bash', 'tools/dist_test.sh'])
    args = [TOY_MODEL, 'none'] + ([] if nproc == 1 else [str(nproc)])
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(29500 + os.getpid() % 1000))
    proc = subprocess.run([*tool, *args, '--work-dir', work, '--out', f'{work}/out.pkl',
                           '--cfg-options', *options], cwd=ROOT, env=env, capture_output=True,
                          text=True, errors='replace', timeout=300)  # decord logs raw bytes
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (log_json,) = glob.glob(osp.join(work, '*', '*.json'))
    (log_txt,) = glob.glob(osp.join(work, '*', '*.log'))
    return json.load(open(log_json)), open(log_txt).read()


@pytest.mark.slow
def test_test_tool_evaluates_the_videos_read_and_names_the_others(videos, tmp_path):
    lines = ['ok0.mp4 0', 'corrupt.mp4 1', 'ok1.mp4 1', 'ok2.mp4 0', 'truncated.mp4 0',
             'ok3.mp4 1', 'ok4.mp4 0']
    _, ann = make_dataset(videos, lines, test_mode=True)
    metrics, log = _test_tool(videos, ann, str(tmp_path / 'one'), nproc=1)
    dumped = load(str(tmp_path / 'one' / 'out.pkl'))
    assert len(dumped) == 7
    read = [d for d in dumped if d.get('unreadable') is None]
    marked = [osp.basename(d['unreadable'].split()[0]) for d in dumped if d.get('unreadable')]
    assert marked == ['corrupt.mp4', 'truncated.mp4']
    # top-1 accuracy over the 5 videos read, by hand from the dumped scores
    top1 = np.mean([int(d['pred_score'].argmax()) == int(d['gt_label']) for d in read])
    assert metrics['acc/top1'] == pytest.approx(top1, abs=1e-4)
    assert metrics['acc/videos_read'] == 5 and metrics['acc/videos_skipped'] == 2
    assert 'skipping unreadable video' in log
    assert re.search(r'2 of 7 videos could not be read and are not in the metric: \S*corrupt.mp4'
                     r' \(.*line 2\); \S*truncated.mp4 \(.*line 5\)', log)
    # two processes (gloo): the same numbers
    two, _ = _test_tool(videos, ann, str(tmp_path / 'two'), nproc=2)
    assert {k: two[k] for k in metrics if k.startswith('acc/')} == {
        k: v for k, v in metrics.items() if k.startswith('acc/')}
