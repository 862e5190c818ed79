"""The MaMMUT pass schedule as an MMEngine hook."""
from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..models.mammut import PASSES
from .strategies import unwrap_model, writable_parameters


@HOOKS.register_module()
class TwoPassScheduleHook(Hook):
    """Owns the two-pass schedule of MaMMUT pretraining.

    Before every training iteration it sets, on the unwrapped model (so it works under DDP, where
    the model's own ``train_step`` is bypassed, and under FSDP and DeepSpeed:
    :func:`~mammut_det.engine.strategies.unwrap_model`):

    - the order of the two passes: shuffled per iteration as in the paper (``shuffle=True``),
      drawn from ``Random((seed, iteration))`` so a run, and a resumed run, repeat it exactly;
    - the loss weights: ``weights`` (equal by default), or the entry of ``weight_schedule`` whose
      ``begin`` iteration was reached last, e.g.
      ``[dict(begin=0, contrastive=1., generative=0.), dict(begin=500, contrastive=1.,
      generative=1.)]``; a weight of 0 skips that pass;
    - the cropped positional embedding: switched on from ``cpe_begin`` onwards (an iteration, or
      a fraction of ``max_iters`` if a float in (0, 1]); ``None`` leaves the encoder's setting.
      Its crops come from a generator seeded by (seed, process rank, iteration): every process
      draws its own crops, and a resumed run draws the same ones again.

    After every iteration it clamps the learned temperature in place (``clamp_logit_scale``), as
    open_clip does after each optimizer step, in a way the next step sees under every strategy
    (:func:`~mammut_det.engine.strategies.writable_parameters`).

    The per-pass losses (``loss_contrastive``, ``loss_caption``) are in the model's loss dict and
    so in the log; the hook adds ``w_contrastive``, ``w_generative``, ``generative_first`` and
    ``cpe`` to the message hub.
    """

    priority = 'NORMAL'

    def __init__(self, weights: dict[str, float] | None = None, shuffle: bool = True,
                 order: Sequence[str] = PASSES, weight_schedule: list[dict] | None = None,
                 cpe_begin: int | float | None = None, seed: int | None = None) -> None:
        self.weights = self._check_weights(weights or {name: 1.0 for name in PASSES}, 'weights')
        self.shuffle = shuffle
        if sorted(order) != sorted(PASSES):
            raise ValueError(f'order must be a permutation of {PASSES}, got {tuple(order)}')
        self.order = tuple(order)
        self.weight_schedule = sorted(
            ({'begin': int(s['begin']), **self._check_weights(s, f'weight_schedule[{i}]')}
             for i, s in enumerate(weight_schedule or [])), key=lambda s: s['begin'])
        self.cpe_begin = cpe_begin
        self.seed = seed

    @staticmethod
    def _check_weights(weights: dict, where: str) -> dict[str, float]:
        missing = [name for name in PASSES if name not in weights]
        if missing:
            raise KeyError(f'{where} misses {missing}; give both of {PASSES}')
        out = {name: float(weights[name]) for name in PASSES}
        if any(w < 0 for w in out.values()) or not any(out.values()):
            raise ValueError(f'{where}: weights must be >= 0 and not all 0, got {out}')
        return out

    def weights_at(self, iteration: int) -> dict[str, float]:
        """Loss weights in force at ``iteration``."""
        current = self.weights
        for step in self.weight_schedule:
            if iteration >= step['begin']:
                current = {name: step[name] for name in PASSES}
        return current

    def order_at(self, iteration: int) -> tuple[str, ...]:
        """Pass order at ``iteration``: a reproducible shuffle of the two passes."""
        if not self.shuffle:
            return self.order
        rng = random.Random(f'{self.seed}-{iteration}')
        return tuple(rng.sample(PASSES, k=len(PASSES)))

    def cpe_generator(self, iteration: int, rank: int) -> torch.Generator:
        """The generator of the CPE crops of process ``rank`` at ``iteration``."""
        seed = random.Random(f'cpe-{self.seed}-{rank}-{iteration}').getrandbits(63)
        return torch.Generator().manual_seed(seed)

    def _cpe_on(self, iteration: int, max_iters: int) -> bool | None:
        if self.cpe_begin is None:
            return None
        begin = self.cpe_begin
        if isinstance(begin, float) and 0 < begin <= 1:
            begin = int(begin * max_iters)
        return iteration >= begin

    @staticmethod
    def _unwrap(runner):
        return unwrap_model(runner.model)

    def before_train(self, runner) -> None:
        if not hasattr(self._unwrap(runner), 'set_pass_schedule'):
            raise TypeError(f'TwoPassScheduleHook needs a model with set_pass_schedule(); got '
                            f'{type(self._unwrap(runner)).__name__}')
        if self.seed is None:
            self.seed = runner.seed

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._unwrap(runner)
        it = runner.iter
        order, weights = self.order_at(it), self.weights_at(it)
        model.set_pass_schedule(order, weights)
        cpe = self._cpe_on(it, runner.max_iters)
        if cpe is not None:
            model.visual.use_cpe = cpe
        model.visual.cpe_generator = self.cpe_generator(it, runner.rank)
        hub = runner.message_hub
        hub.update_scalar('train/w_contrastive', weights['contrastive'])
        hub.update_scalar('train/w_generative', weights['generative'])
        hub.update_scalar('train/generative_first', float(order[0] == 'generative'))
        hub.update_scalar('train/cpe', float(bool(model.visual.use_cpe)))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._unwrap(runner)
        with writable_parameters(runner.model, [model.logit_scale]):
            model.clamp_logit_scale()
