"""Detections dumped by ``tools/test.py --out`` -> LVIS result records (the submission format).

``python -m mammut_det.evaluation.lvis_results RESULTS.pkl ANN_FILE OUT.json`` writes the records
that ``lvis.LVISResults`` and the LVIS evaluation server read. Boxes become ``[x, y, w, h]`` and
labels the annotation file's category ids, exactly as MMDetection's ``LVISMetric`` converts them.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mmengine.fileio import load


def predictions_to_lvis(predictions: Sequence[dict], cat_ids: Sequence[int]) -> list[dict]:
    """``predictions``: dicts with ``img_id`` and ``pred_instances`` (``bboxes`` [N, 4] xyxy,
    ``scores`` [N], ``labels`` [N] indexing ``cat_ids``) -> one record per box."""
    records = []
    for i, pred in enumerate(predictions):
        if 'img_id' not in pred or 'pred_instances' not in pred:
            raise KeyError(f'prediction {i} lacks img_id or pred_instances (keys: '
                           f'{sorted(pred)})')
        inst = pred['pred_instances']
        for box, score, label in zip(inst['bboxes'].tolist(), inst['scores'].tolist(),
                                     inst['labels'].tolist()):
            if not 0 <= label < len(cat_ids):
                raise ValueError(f'prediction {i} (img_id {pred["img_id"]}): label {label} '
                                 f'outside the {len(cat_ids)} categories')
            records.append(dict(image_id=pred['img_id'], category_id=cat_ids[label],
                                bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]],
                                score=score))
    return records


def load_lvis_records(results_file: str, ann_file: str) -> list[dict]:
    """Records of a ``tools/test.py --out`` pickle, with category ids from ``ann_file``."""
    from lvis import LVIS
    return predictions_to_lvis(load(results_file), LVIS(ann_file).get_cat_ids())


def main() -> None:
    parser = argparse.ArgumentParser(description='tools/test.py --out pickle -> LVIS json')
    parser.add_argument('results', help='pickle written by tools/test.py --out')
    parser.add_argument('ann_file', help='the LVIS annotation file the model was tested on')
    parser.add_argument('out', help='output json')
    args = parser.parse_args()
    records = load_lvis_records(args.results, args.ann_file)
    with open(args.out, 'w') as f:
        json.dump(records, f)
    print(f'{len(records)} detections written to {args.out}')


if __name__ == '__main__':
    main()
