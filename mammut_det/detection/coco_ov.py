"""Any COCO-format detection set with its own class names, for open-vocabulary fine-tuning."""
from __future__ import annotations

from collections import Counter

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmengine.registry import DATASETS


@DATASETS.register_module()
class CocoOVDataset(CocoDataset):
    """``CocoDataset`` whose classes are the categories of its annotation file.

    Without ``metainfo['classes']`` the classes are all the file's categories, in the file's
    order (mmdet's ``CocoDataset`` would assume COCO's 80 names and silently drop every other
    category). Given classes must each be a category name of the file, listed in the file's
    order (labels, and ``CocoMetric``, follow the file's order; a misspelt or reordered name
    would otherwise mislabel boxes without a word). The names become the detector's vocabulary
    (``OpenVocabularyHook``), so write them as they should read in a prompt; ``_`` reads as a
    space.

    Args:
        **kwargs: ``CocoDataset`` arguments (``ann_file``, ``data_root``, ``data_prefix``,
            ``metainfo``, ``filter_cfg``, ``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict(classes=None)

    def load_data_list(self) -> list[dict]:
        # CocoDataset.load_data_list reads the file through COCOAPI and then asks it for the
        # ids of metainfo['classes']: settle the classes in between, reading the file once
        def read(path: str) -> COCO:
            api = COCO(path)
            self._set_classes(api)
            return api

        self.COCOAPI = read
        try:
            return super().load_data_list()
        finally:
            del self.COCOAPI

    def _set_classes(self, api: COCO) -> None:
        names = [c['name'] for c in api.dataset.get('categories', [])]
        if not names:
            raise ValueError(f'{self.ann_file}: no categories')
        repeated = [n for n, k in Counter(names).items() if k > 1]
        if repeated:
            raise ValueError(f'{self.ann_file}: category names repeat: {repeated}')
        given = self._metainfo.get('classes')
        if given is None:
            self._metainfo['classes'] = tuple(names)
            return
        given = tuple(given)
        unknown = [n for n in given if n not in names]
        if unknown:
            raise ValueError(f'{self.ann_file}: metainfo classes {unknown} are not categories of '
                             f'the file, which has {names}')
        in_file_order = tuple(n for n in names if n in given)
        if given != in_file_order:
            raise ValueError(f'{self.ann_file}: list metainfo classes in the order of the file\'s '
                             f'categories: {list(in_file_order)}')
        self._metainfo['classes'] = given
