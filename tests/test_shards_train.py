"""Pretraining from WebDataset shards through MMEngine's runner and the real tools: 2 gloo processes
x 2 dataloader workers cover an epoch with disjoint readers, a resumed run continues exactly where
the checkpoint stopped, and ShardStreamHook logs and saves skip counts per reader."""
from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mammut_det.datasets import make_toy_captions
from tests.test_pretrain import run_tool
from tests.test_shards import load_make_shards, write_tar

ROOT = Path(__file__).resolve().parents[1]
SHARDS_CFG = ROOT / 'configs' / 'pretrain' / 'mammut_tiny_toy_shards.py'
# 160 samples in 16 shards of 10: with 2 ranks x 2 workers each reader gets 4 shards = 40 samples,
# 10 batches of 4; a rank's 20 iterations (2 readers x 10 batches) are exactly one epoch.
NUM_SAMPLES, SHARD_SIZE, BATCH = 160, 10, 4


@pytest.fixture(scope='module')
def toy_shards(tmp_path_factory) -> tuple[Path, str]:
    data = tmp_path_factory.mktemp('toy_shards')
    make_toy_captions(str(data), num_train=NUM_SAMPLES, num_val=8, size=64, seed=1)
    load_make_shards().main([str(data / 'train.jsonl'), str(data / 'shards'),
                             '--shard-size', str(SHARD_SIZE)])
    last = NUM_SAMPLES // SHARD_SIZE - 1
    return data, str(data / 'shards' / f'{{00000..{last:05d}}}.tar')


def write_cfg(path: Path, data: Path, shards: str | list[str], max_iters: int,
              num_workers: int = 2, shuffle_buffer: int = 16) -> Path:
    """The shards pretraining config pointed at the toy data, logging keys to ``keys/``."""
    path.write_text(f'''
_base_ = [{str(SHARDS_CFG)!r}]
data_root = {str(data) + '/'!r}
model = dict(tokenizer=dict(type='BPETokenizer', path={str(data / 'tokenizer.json')!r},
                            context_length=32))
train_dataloader = dict(batch_size={BATCH}, num_workers={num_workers},
                        persistent_workers={num_workers > 0},
                        dataset=dict(shards={shards!r}, shuffle_buffer={shuffle_buffer},
                                     shuffle_initial=4, tokenizer=model['tokenizer']))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=4), logger=dict(interval=5))
custom_hooks = [dict(type='TwoPassScheduleHook'),
                dict(type='ShardStreamHook', interval=5, log_keys_to='keys')]
''')
    return path


def trained_keys(work: Path) -> dict[tuple[int, int], list[tuple[int, int, str]]]:
    """(iteration, rank) -> [(worker, epoch, key), ...] from the hook's key log."""
    out: dict[tuple[int, int], list] = {}
    for path in sorted((work / 'keys').glob('rank*.jsonl')):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            out.setdefault((rec['iter'], rec['rank']), []).append(
                (rec['worker'], rec['epoch'], rec['key']))
    return out


def test_two_ranks_two_workers_cover_the_epoch_and_resume_where_they_stopped(toy_shards, tmp_path):
    data, shards = toy_shards
    cfg = write_cfg(tmp_path / 'cfg.py', data, shards, max_iters=20)
    env = dict(PYTHON=sys.executable, PORT='29533', OMP_NUM_THREADS='1')
    run_tool(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(tmp_path / 'a')],
             extra_env=env)
    full = trained_keys(tmp_path / 'a')
    assert sorted(full) == [(i, r) for i in range(20) for r in (0, 1)]
    readers: dict[tuple[int, int], set[str]] = {}
    for (_, rank), batch in full.items():
        assert len(batch) == BATCH and len({w for w, _, _ in batch}) == 1  # one reader a batch
        assert {e for _, e, _ in batch} == {0}
        for worker, _, key in batch:
            readers.setdefault((rank, worker), set()).add(key)
    assert sorted(readers) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(len(keys) == NUM_SAMPLES // 4 for keys in readers.values())
    everything = set().union(*readers.values())
    assert len(everything) == NUM_SAMPLES  # disjoint readers, together the whole epoch
    assert everything == {f'{i:09d}' for i in range(NUM_SAMPLES)}

    # resume in a fresh work dir from the checkpoint at iteration 10, and at 15, where each rank
    # has taken 8 batches from worker 0 and 7 from worker 1, so worker 1's batch is due next
    before = {i: [key for (j, _), b in full.items() if j < i for _, _, key in b] for i in (10, 15)}
    for stop in (10, 15):
        work = tmp_path / f'from_{stop}'
        log = run_tool(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work),
                        '--resume', str(tmp_path / 'a' / f'iter_{stop}.pth')], extra_env=env)
        assert f'resuming the shard stream at iteration {stop}' in log.stdout + log.stderr
        resumed = trained_keys(work)
        assert sorted(resumed) == [(i, r) for i in range(stop, 20) for r in (0, 1)]
        assert all(resumed[k] == full[k] for k in resumed)  # the very same batches
        after = [key for b in resumed.values() for _, _, key in b]
        assert len(before[stop]) + len(after) == len(set(before[stop]) | set(after)) == NUM_SAMPLES

def test_hook_logs_and_saves_skip_counts_and_restarts_the_epoch_on_a_new_layout(toy_shards,
                                                                                tmp_path):
    data, shards = toy_shards
    bad = tmp_path / 'bad'
    bad.mkdir()
    ok = cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    write_tar(bad / 'bad.tar', [('u.jpg', b'junk'), ('u.txt', b'undecodable'),
                                ('v.txt', b'no image'), ('w.png', ok)])
    (bad / 'sizes.json').write_text('{"bad.tar": 3}')
    cfg = Config.fromfile(write_cfg(tmp_path / 'cfg.py', data, [str(bad / 'bad.tar'), shards],
                                    max_iters=4, num_workers=0, shuffle_buffer=0))
    cfg.train_dataloader.dataset.shuffle_shards = False
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(tmp_path / 'one')
    Runner.from_cfg(cfg).train()
    log = Path(glob.glob(str(tmp_path / 'one' / '*' / '*.log'))[0]).read_text()
    counts = 'skipped 3 samples (no_image 1, no_caption 1, bad_image 1)'
    assert f'shard stream after iteration 4: 1 readers at epoch 0; {counts}' in log
    assert "skipping" in log and "sample 'u'" in log and '[bad_image;' in log
    saved = torch.load(tmp_path / 'one' / 'iter_4.pth')['shard_stream']
    reader = saved['ranks'][0]['readers'][0]
    assert (saved['world_size'], saved['num_workers']) == (1, 1)
    assert reader['count'] == 4 * BATCH and reader['position'] == 4 * BATCH + 3
    assert reader['skipped']['bad_image'] == 1 and reader['skipped']['no_image'] == 1

    # resumed with 2 workers instead of 1: no sample-exact continuation; a new epoch starts
    cfg.train_dataloader.update(num_workers=2, persistent_workers=True)
    cfg.work_dir = str(tmp_path / 'two')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'one' / 'iter_2.pth')
    Runner.from_cfg(cfg).train()
    log = Path(glob.glob(str(tmp_path / 'two' / '*' / '*.log'))[0]).read_text()
    assert 'streamed with 1 ranks x 1 workers, this run has 1 x 2' in log
    assert {e for batch in trained_keys(tmp_path / 'two').values() for _, e, _ in batch} == {1}
