"""LVIS v1 for open-vocabulary detection: base classes (frequent + common) for training."""
from __future__ import annotations

from collections.abc import Sequence

from mmdet.datasets import LVISV1Dataset
from mmengine.registry import DATASETS

FREQUENCIES = ('r', 'c', 'f')


@DATASETS.register_module()
class LVISV1OVDataset(LVISV1Dataset):
    """``LVISV1Dataset`` that splits the classes by their ``frequency`` into base and novel.

    ``metainfo`` gains ``base_classes`` and ``novel_classes`` (names, in class order). With
    ``drop_novel`` (for training) every annotation of a novel class is removed, so the detector
    sees base classes only; evaluation sets keep everything. The file's category names must equal
    ``metainfo['classes']`` in order (labels follow the file's category order).

    Args:
        novel_frequencies: LVIS frequency codes of the novel classes (``'r'``: rare).
        drop_novel: remove the annotations of novel classes.
        **kwargs: ``LVISV1Dataset`` arguments.
    """

    def __init__(self, *args, novel_frequencies: Sequence[str] = ('r',), drop_novel: bool = False,
                 **kwargs) -> None:
        bad = [f for f in novel_frequencies if f not in FREQUENCIES]
        if bad:
            raise ValueError(f'novel_frequencies {bad} are not LVIS frequencies {FREQUENCIES}')
        self.novel_frequencies = tuple(novel_frequencies)
        self.drop_novel = drop_novel
        self._novel_labels: set[int] | None = None
        super().__init__(*args, **kwargs)

    def _split_categories(self) -> None:
        """Read names and frequencies from the LVIS api (``self.lvis``, alive while loading)."""
        classes = tuple(self._metainfo['classes'])
        cats = [self.lvis.cats[c] for c in self.cat_ids]
        if len(cats) != len(classes):
            raise ValueError(f'{self.ann_file}: {len(cats)} categories but metainfo has '
                             f'{len(classes)} classes')
        novel = set()
        for label, (cat, name) in enumerate(zip(cats, classes)):
            if cat['name'] != name:
                raise ValueError(f'{self.ann_file}: category id {cat["id"]} is named '
                                 f'{cat["name"]!r} but metainfo classes[{label}] is {name!r}; '
                                 'list the classes in the order of the file\'s categories')
            if cat.get('frequency') not in FREQUENCIES:
                raise ValueError(f'{self.ann_file}: category id {cat["id"]} ({cat["name"]!r}) '
                                 f'has frequency {cat.get("frequency")!r}, not one of '
                                 f'{FREQUENCIES}')
            if cat['frequency'] in self.novel_frequencies:
                novel.add(label)
        self._novel_labels = novel
        self._metainfo['base_classes'] = tuple(n for i, n in enumerate(classes) if i not in novel)
        self._metainfo['novel_classes'] = tuple(n for i, n in enumerate(classes) if i in novel)
        if self.drop_novel:
            for label in novel:
                self.cat_img_map[self.cat_ids[label]] = []

    def parse_data_info(self, raw_data_info: dict) -> dict:
        if self._novel_labels is None:
            self._split_categories()
        info = super().parse_data_info(raw_data_info)
        if self.drop_novel:
            info['instances'] = [i for i in info['instances']
                                 if i['bbox_label'] not in self._novel_labels]
        return info

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        if self._novel_labels is None:
            raise ValueError(f'{self.ann_file}: no images')
        return data_list
