"""The global batch: two gloo processes under DDP give the gradients and logged losses of one
process over the concatenated batch, for every loss and split the model offers."""
from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch.nn.parallel import DistributedDataParallel

# rank 0 gets short captions, rank 1 long ones: the two processes pad to different lengths
CAPTIONS = ['a red circle', 'two stars', 'a blue square', 'a cross',
            'a small purple cross next to a big red circle', 'an orange square and a blue circle',
            'a green triangle on the left', 'two yellow stars and a small red square']
PER_RANK = 4
BOTH, CON, GEN = (dict(contrastive=1.0, generative=1.0), dict(contrastive=1.0, generative=0.0),
                  dict(contrastive=0.0, generative=1.0))
SCENARIOS = {
    'focal-full': (dict(contrastive_loss='focal'), CON),
    'focal-local': (dict(contrastive_loss='focal', local_loss=True), CON),
    'infonce-full': (dict(contrastive_loss='infonce'), CON),
    'infonce-local': (dict(contrastive_loss='infonce', local_loss=True), CON),
    'caption': (dict(), GEN),
    'both-local': (dict(local_loss=True), BOTH),
    # answer-only caption loss of the generative fine-tuning model, questions as prompts
    'generator': (dict(type='MaMMUTGenerator', prompt='{question}', target_key='caption'), GEN),
}
STEPS = 3


def batch(step: int, rows: slice) -> tuple[torch.Tensor, list[BaseDataElement]]:
    g = torch.Generator().manual_seed(100 + step)
    images = torch.randn(2 * PER_RANK, 3, 32, 32, generator=g)[rows]
    captions = CAPTIONS[step % 2:] + CAPTIONS[:step % 2]
    questions = captions[3:] + captions[:3]
    return images, [BaseDataElement(metainfo=dict(caption=c, question=q))
                    for c, q in zip(captions[rows], questions[rows])]


def build(cfg: dict, extra: dict, weights: dict):
    torch.manual_seed(0)
    model = MODELS.build({**cfg, **extra})
    model.set_pass_schedule(('contrastive', 'generative'), weights)
    return model


def loss_and_grads(model, forward, images, data) -> tuple[dict, dict]:
    model.zero_grad(set_to_none=True)
    losses = forward(images, data, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    logged = {k: v.item() for k, v in losses.items()}
    return logged, {n: p.grad.clone() for n, p in model.named_parameters()}


def worker(rank: int, world: int, init_file: str, cfg: dict, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world)
    import mammut_det  # noqa: F401
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    results = {}
    for name, (extra, weights) in SCENARIOS.items():
        model = build(cfg, extra, weights)
        ddp = DistributedDataParallel(model, broadcast_buffers=False)
        logged, grads = loss_and_grads(model, ddp, *batch(0, rows))
        optim = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for step in range(STEPS):
            loss_and_grads(model, ddp, *batch(step, rows))
            optim.step()
        params = {n: p.detach().clone() for n, p in model.named_parameters()}
        results[name] = dict(logged=logged, grads=grads, params=params)
    torch.save(results, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_process_results(tokenizer_path):
    from tests.conftest import tiny_model_cfg
    cfg = tiny_model_cfg(tokenizer_path)
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(worker, args=(2, os.path.join(tmp, 'init'), cfg, tmp), nprocs=2,
                           start_method='spawn')
        yield cfg, [torch.load(os.path.join(tmp, f'rank{r}.pt')) for r in range(2)]


@pytest.mark.parametrize('name', list(SCENARIOS))
@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_global_batch(two_process_results, name):
    cfg, ranks = two_process_results
    extra, weights = SCENARIOS[name]
    model = build(cfg, extra, weights)
    want_logged, want_grads = loss_and_grads(model, model, *batch(0, slice(None)))
    for rank, res in enumerate(ranks):
        got = res[name]
        for key, value in want_logged.items():
            assert got['logged'][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (rank, key)
        for pname, grad in want_grads.items():
            torch.testing.assert_close(got['grads'][pname], grad, rtol=1e-4, atol=1e-5,
                                       msg=lambda m, p=pname, r=rank: f'rank {r} {p}: {m}')
    # every parameter got a gradient (DDP needs it), and the ranks stay identical after training
    for pname, p in ranks[0][name]['params'].items():
        torch.testing.assert_close(ranks[1][name]['params'][pname], p, rtol=0, atol=0)


def test_the_loss_is_normalised_by_the_global_batch(tokenizer_path):
    """The focal loss of 1 process over 8 samples equals the mean of 2 processes x 4 samples with
    local rows: the normalisation counts the rows of the global batch."""
    from mammut_det.models import focal_contrastive_loss
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(8, 6, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(8, 6, generator=g), dim=-1)
    one = focal_contrastive_loss(10 * img @ txt.t())
    halves = [focal_contrastive_loss(10 * img[r * 4:r * 4 + 4] @ txt.t(),
                                     10 * txt[r * 4:r * 4 + 4] @ img.t(), offset=4 * r)
              for r in range(2)]
    torch.testing.assert_close(one, (halves[0] + halves[1]) / 2)
