"""Image-text retrieval as the COCO Karpathy protocol counts it: images grouped by id, each encoded
once; i2t hits when any of the image's captions is in the top k, t2i when the caption's own image
is. Checked against a hand-computed example, on 2 gloo processes, and through tools-style runs."""
from __future__ import annotations

import json
import multiprocessing
import os
import socket

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mammut_det  # noqa: F401
from mammut_det.engine import RetrievalMetric

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Similarities of 15 captions (5 per image, owner = row // 5) to the 3 images: image embeddings
# are the unit vectors e0, e1, e2, so a caption's embedding is its row.
SIMS = [
    (0.55, 0.10, 0.00), (0.50, 0.60, 0.00), (0.20, 0.10, 0.30), (0.10, 0.20, 0.30),
    (0.40, 0.00, 0.10),
    (0.30, 0.80, 0.00), (0.70, 0.35, 0.20), (0.00, 0.05, 0.60), (0.30, 0.20, 0.25),
    (0.10, 0.40, 0.20),
    (0.85, 0.00, 0.05), (0.20, 0.85, 0.10), (0.00, 0.10, 0.50), (0.60, 0.65, 0.55),
    (0.35, 0.45, 0.50),
]
# By hand. i2t, captions ranked per image (column):
#   image 0: c10 .85, c6 .70, c13 .60, c0 .55 (its own)   -> first hit at rank 4
#   image 1: c11 .85, c5 .80 (own)                         -> rank 2
#   image 2: c7 .60, c13 .55 (own)                         -> rank 2
# so R@1 0/3, R@2 2/3, R@5 3/3.
# t2i, rank of the caption's own image among the 3 (per row):
#   1: c0 c4 c5 c9 c12 c14; 2: c1 c2 c6 c7 c10; 3: c3 c8 c11 c13
# so R@1 6/15, R@2 11/15, R@5 15/15. A random ranking hits i2t@1 with probability 5/15.
EXPECTED = {'i2t@1': 0.0, 'i2t@2': 200 / 3, 'i2t@5': 100.0,
            't2i@1': 40.0, 't2i@2': 1100 / 15, 't2i@5': 100.0, 'chance_i2t@1': 100 / 3}
CAPTIONS = [f'caption {j} of image {j // 5}' for j in range(15)]


def grouped_samples() -> list[dict]:
    """One sample per image: its embedding [3] and its 5 captions' [5, 3]."""
    texts = torch.tensor(SIMS)
    return [dict(image_embedding=torch.eye(3)[i], text_embedding=texts[5 * i:5 * i + 5],
                 caption=CAPTIONS[5 * i], gt_captions=CAPTIONS[5 * i:5 * i + 5],
                 img_id=f'img{i}') for i in range(3)]


def per_caption_samples() -> list[dict]:
    """One sample per caption line, the image repeated (as an ungrouped caption list gives)."""
    return [dict(image_embedding=torch.eye(3)[j // 5], text_embedding=torch.tensor(SIMS[j]),
                 caption=CAPTIONS[j], img_id=f'img{j // 5}') for j in range(15)]


def _metric(samples: list[dict]) -> dict:
    metric = RetrievalMetric(topk=(1, 2, 5))
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('samples', [grouped_samples, per_caption_samples])
def test_recall_matches_the_hand_computed_example(samples):
    got = _metric(samples())
    assert set(got) == set(EXPECTED)
    for key, value in EXPECTED.items():
        assert got[key] == pytest.approx(value, abs=1e-4), key


def test_identical_captions_of_other_images_count_only_when_asked():
    samples = grouped_samples()
    # image 1's top caption c11 (image 2's) now reads as image 1's own c5
    samples[2]['gt_captions'] = list(samples[2]['gt_captions'])
    samples[2]['gt_captions'][1] = CAPTIONS[5]
    assert _metric(samples)['i2t@1'] == 0.0
    metric = RetrievalMetric(topk=(1,), match_identical_captions=True)
    metric.process({}, samples)
    got = metric.compute_metrics(metric.results)
    assert got['i2t@1'] == pytest.approx(100 / 3)
    # t2i: c5 and c11 read the same, so each also hits the other's image
    assert got['t2i@1'] == pytest.approx(700 / 15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _evaluate_on_rank(rank: int, port: int, queue) -> None:
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE='2', LOCAL_RANK=str(rank))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    samples = grouped_samples()
    # DefaultSampler's split of 3 samples over 2 ranks: [0, 2] and [1, 0 (padding)]
    mine = [samples[i] for i in ([0, 2] if rank == 0 else [1, 0])]
    metric = RetrievalMetric(topk=(1, 2, 5))
    metric.process({}, mine)
    queue.put((rank, metric.evaluate(size=3)))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_give_what_one_gives():
    ctx = multiprocessing.get_context('fork')
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_evaluate_on_rank, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    results = dict(queue.get(timeout=10) for _ in procs)
    single = RetrievalMetric(topk=(1, 2, 5))
    single.process({}, grouped_samples())
    expected = single.evaluate(size=3)
    assert results[0] == expected == results[1]
    assert expected['retrieval/t2i@2'] == pytest.approx(1100 / 15, abs=1e-4)


def _write_karpathy_style(tmp_path) -> str:
    """3 images of distinct colours, 2 captions each, one JSON line per caption, interleaved."""
    colours = {'red': (0, 0, 255), 'green': (0, 255, 0), 'blue': (255, 0, 0)}
    lines = []
    for name, bgr in colours.items():
        img = np.zeros((40, 48, 3), np.uint8)
        img[:] = bgr
        cv2.imwrite(str(tmp_path / f'{name}.png'), img)
    for k in range(2):
        for name in colours:
            lines.append(json.dumps(dict(image=f'{name}.png', caption=f'a {name} circle {k}')))
    (tmp_path / 'test.jsonl').write_text('\n'.join(lines))
    return str(tmp_path / 'test.jsonl')


def test_retrieval_preset_encodes_each_image_once(tiny_cfg, tmp_path):
    """The openMaMMUT Karpathy preset on a tiny model (one line per caption, grouped by image):
    3 images encoded once each, 6 captions; the metric equals the protocol applied by hand to
    the model's own embeddings."""
    ann = _write_karpathy_style(tmp_path)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/openmammut/'
                                       'openmammut_l14_zeroshot_retrieval.py'))
    # the preset's legacy switches (CLS token, mean over all positions, no text projection)
    # on tiny shapes
    cfg.model.vision.update(img_size=32, patch_size=8, width=32, depth=2, num_heads=2,
                            embed_dim=32)
    cfg.model.text.update(vocab_size=300, context_length=16, width=32, depth=2, num_heads=2,
                          embed_dim=32)
    cfg.model.tokenizer = tiny_cfg['tokenizer']
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline[1].scale = (32 * 100, 32)
    pipeline[2].crop_size = 32
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False, batch_size=2)
    cfg.test_dataloader.dataset.update(data_root=str(tmp_path), ann_file=ann)
    cfg.load_from = None
    cfg.work_dir = str(tmp_path / 'work')
    # the preset has no default scope: the transforms are mmcv's, whatever scope an earlier test
    # left current
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner.from_cfg(cfg)
        model = runner.model
        images_seen = []
        model.visual.register_forward_hook(lambda m, i, o: images_seen.append(i[0].shape[0]))
        metrics = runner.test()
    assert sum(images_seen) == 3

    # by hand from the model's embeddings: rows are images in file order (red, green, blue)
    pipeline_ds = runner.test_dataloader.dataset
    batch = runner.test_dataloader.collate_fn([pipeline_ds[i] for i in range(3)])
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        img = model.encode_image(data['inputs'])
        caps = [c for i in range(3) for c in pipeline_ds.get_data_info(i)['gt_captions']]
        txt = model.encode_text(caps)
    owner = torch.arange(3).repeat_interleave(2)
    sim = img @ txt.t()
    i2t1 = np.mean([owner[int(sim[i].argmax())] == i for i in range(3)]) * 100
    t2i1 = np.mean([int(sim[:, j].argmax()) == owner[j] for j in range(6)]) * 100
    assert metrics['retrieval/i2t@1'] == pytest.approx(i2t1)
    assert metrics['retrieval/t2i@1'] == pytest.approx(t2i1)
    assert metrics['retrieval/t2i@5'] == 100.0  # only 3 images to rank
