"""Keeps the detector's vocabulary in step with the dataset being trained on or evaluated."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from ..engine.strategies import unwrap_model


def _detector(runner: Runner):
    model = unwrap_model(runner.model)
    if not hasattr(model, 'set_vocabulary'):
        raise TypeError(f'OpenVocabularyHook needs a model with set_vocabulary, got '
                        f'{type(model).__name__}')
    return model


@HOOKS.register_module()
class OpenVocabularyHook(Hook):
    """Sets the vocabulary to the classes of the current dataset.

    Before training: the training set's ``classes``, and its ``base_classes`` (when its metainfo
    has them) become the seen classes, which are saved with the weights. Before validation or
    testing: that set's ``classes`` (the seen classes stay); the training vocabulary comes back
    after validation.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._train_classes: tuple[str, ...] | None = None

    def before_train(self, runner: Runner) -> None:
        meta = runner.train_dataloader.dataset.metainfo
        model = _detector(runner)
        model.set_vocabulary(meta['classes'], seen_classes=meta.get('base_classes'))
        self._train_classes = model.class_names

    def before_val(self, runner: Runner) -> None:
        _detector(runner).set_vocabulary(runner.val_dataloader.dataset.metainfo['classes'])

    def after_val(self, runner: Runner) -> None:
        if self._train_classes is not None:
            _detector(runner).set_vocabulary(self._train_classes)

    def before_test(self, runner: Runner) -> None:
        _detector(runner).set_vocabulary(runner.test_dataloader.dataset.metainfo['classes'])
