"""Image-text retrieval accuracy for MaMMUT's ``predict`` outputs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Recall@k of image->text and text->image retrieval over the whole evaluation set.

    Each sample holds ``image_embedding``, ``text_embedding``, ``caption`` and ``img_id``. A
    retrieved item is correct when it belongs to the query's image (several captions per image,
    as in COCO) or its caption text equals the query's (identical captions, frequent in generated
    data, are not errors); ``chance_i2t@1`` reports what a random ranking scores.
    """

    default_prefix = 'retrieval'

    def __init__(self, topk: Sequence[int] = (1, 5), collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            get = s.get if isinstance(s, dict) else (lambda k, o=s: o.get(k))
            self.results.append(dict(image=get('image_embedding').detach().cpu().float(),
                                     text=get('text_embedding').detach().cpu().float(),
                                     caption=get('caption'), img_id=get('img_id')))

    def compute_metrics(self, results: list) -> dict[str, float]:
        img = torch.stack([r['image'] for r in results])
        txt = torch.stack([r['text'] for r in results])
        caps = [r['caption'] for r in results]
        ids = {c: i for i, c in enumerate(dict.fromkeys(caps))}
        cap_id = torch.tensor([ids[c] for c in caps])
        img_ids = {i: n for n, i in enumerate(dict.fromkeys(r['img_id'] for r in results))}
        img_id = torch.tensor([img_ids[r['img_id']] for r in results])
        same = (cap_id[:, None] == cap_id[None, :]) | (img_id[:, None] == img_id[None, :])
        sim = img @ txt.t()
        out = {}
        for k in self.topk:
            k_eff = min(k, len(results))
            i2t = sim.topk(k_eff, dim=1).indices
            t2i = sim.t().topk(k_eff, dim=1).indices
            out[f'i2t@{k}'] = 100.0 * same.gather(1, i2t).any(1).float().mean().item()
            out[f't2i@{k}'] = 100.0 * same.gather(1, t2i).any(1).float().mean().item()
        out['chance_i2t@1'] = 100.0 * same.float().mean().item()
        return out
