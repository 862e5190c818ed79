"""Image-text retrieval recall for MaMMUT's ``predict`` outputs, by the COCO Karpathy protocol."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Recall@k of image->text and text->image retrieval over the whole evaluation set.

    Each sample holds ``image_embedding`` [D], ``img_id``, and either one caption (``caption``,
    ``text_embedding`` [D]) or all of its image's captions (``gt_captions``, n strings, and
    ``text_embedding`` [n, D]; a grouped evaluation set such as ``GroupedCaptionDataset`` or
    ``KarpathyCaptionDataset`` gives these, so each image is encoded once). Images are grouped by
    ``img_id`` (the first sample of an image gives its embedding), so a list with one sample per
    caption counts each image once too. As in
    the standard protocol: image->text hits at k when any of the image's captions is among its k
    most similar captions; text->image when the caption's own image is among its k most similar
    images. With ``match_identical_captions`` a caption that reads exactly like one of an image's
    own (frequent in generated data) also counts as that image's. ``chance_i2t@1`` is what a
    random ranking scores on image->text at 1.
    """

    default_prefix = 'retrieval'

    def __init__(self, topk: Sequence[int] = (1, 5), match_identical_captions: bool = False,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)
        self.match_identical_captions = match_identical_captions

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            get = s.get if isinstance(s, dict) else (lambda k, o=s: o.get(k))
            captions = get('gt_captions')
            captions = [get('caption')] if captions is None else list(captions)
            text = get('text_embedding').detach().cpu().float().reshape(len(captions), -1)
            self.results.append(dict(image=get('image_embedding').detach().cpu().float(),
                                     text=text, captions=captions, img_id=get('img_id')))

    def compute_metrics(self, results: list) -> dict[str, float]:
        images: dict = {}  # img_id -> (row, embedding); insertion order is the row order
        texts, owner, captions = [], [], []
        for r in results:
            row = images.setdefault(r['img_id'], (len(images), r['image']))[0]
            texts.append(r['text'])
            owner += [row] * len(r['captions'])
            captions += r['captions']
        img = torch.stack([emb for _, emb in images.values()])
        txt = torch.cat(texts)
        owner_t = torch.tensor(owner)
        # hit[i, t]: caption t counts as image i's
        hit = owner_t[None, :] == torch.arange(len(images))[:, None]
        if self.match_identical_captions:
            ids = {c: n for n, c in enumerate(dict.fromkeys(captions))}
            cap_id = torch.tensor([ids[c] for c in captions])
            own_caps = torch.zeros(len(images), len(ids), dtype=torch.bool)
            own_caps[owner_t, cap_id] = True
            hit |= own_caps[:, cap_id]
        sim = img @ txt.t()
        out = {}
        for k in self.topk:
            i2t = sim.topk(min(k, sim.shape[1]), dim=1).indices
            t2i = sim.t().topk(min(k, sim.shape[0]), dim=1).indices
            out[f'i2t@{k}'] = 100.0 * hit.gather(1, i2t).any(1).float().mean().item()
            out[f't2i@{k}'] = 100.0 * hit.t().gather(1, t2i).any(1).float().mean().item()
        out['chance_i2t@1'] = 100.0 * hit.float().mean().item()
        return out
