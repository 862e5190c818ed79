"""The experiment's report: metrics read from the tools' outputs, loss plots, a detection grid.

Everything here reads files the real tools wrote: MMEngine's ``vis_data/scalars.json`` (one JSON
record per logged iteration) for the loss curves and the pretraining retrieval scores, the
``<timestamp>.json`` that ``tools/test.py`` leaves in its work dir for the LVIS metrics, and
``tools/infer.py``'s ``preds/*.json`` for the detections drawn, and the predictions that
``tools/test.py --out`` dumped for the zero-shot classification accuracy and the greedy captions.
"""
from __future__ import annotations

import glob
import html
import json
import os
import os.path as osp
from collections.abc import Sequence

import matplotlib
import mmengine
import torch

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

#: LVIS box metrics reported by ``tools/test.py`` (``lvis/bbox_<name>``), as fractions
METRIC_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
TABLE_METRICS = ('AP', 'AP50', 'APr', 'APc', 'APf')
PRETRAIN_LOSSES = ('loss_contrastive', 'loss_caption')
DETECTOR_LOSSES = ('loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox')


def _run_dirs(work_dir: str) -> list[str]:
    """MMEngine's ``<work_dir>/<timestamp>/`` folders, oldest first."""
    return sorted(d for d in glob.glob(osp.join(work_dir, '*')) if osp.isdir(d)
                  and osp.basename(d)[:8].isdigit())


def read_scalars(work_dir: str) -> list[dict]:
    """The records of the newest ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    for run in reversed(_run_dirs(work_dir)):
        path = osp.join(run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]
    raise FileNotFoundError(f'no <timestamp>/vis_data/scalars.json under {work_dir}')


def curve(records: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    """(iterations, values) of ``key`` over the training records that hold it."""
    pts = [(r['iter'], r[key]) for r in records if key in r and 'iter' in r]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def last_value(records: Sequence[dict], key: str) -> float | None:
    """The last logged value of ``key`` (e.g. a validation metric), or ``None``."""
    values = [r[key] for r in records if key in r]
    return float(values[-1]) if values else None


def read_test_metrics(work_dir: str) -> dict[str, float]:
    """LVIS box metrics (fractions; -1 where LVIS has no ground truth) from the newest
    ``<work_dir>/<timestamp>/<timestamp>.json`` written by ``tools/test.py``."""
    for run in reversed(_run_dirs(work_dir)):
        path = osp.join(run, f'{osp.basename(run)}.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            data = json.load(f)
        missing = [n for n in METRIC_NAMES if f'lvis/bbox_{n}' not in data]
        if missing:
            raise KeyError(f'{path}: no lvis/bbox_{missing[0]}; was it an LVISMetric test run?')
        return {n: float(data[f'lvis/bbox_{n}']) for n in METRIC_NAMES}
    raise FileNotFoundError(f'no <timestamp>/<timestamp>.json metrics under {work_dir}')


def zero_shot_accuracy(predictions: str, frequencies: Sequence[str]) -> dict[str, float]:
    """Top-1 accuracy (fraction) over all samples, over each LVIS frequency group present
    (``'f'``, ``'c'``, ``'r'``; by the true class) and the mean over classes, from the dump of
    ``tools/test.py --out`` (``pred_score`` [K] and ``gt_label`` [1] per sample);
    ``frequencies[k]`` is class ``k``'s group."""
    samples = mmengine.load(predictions)
    pred = torch.stack([torch.as_tensor(s['pred_score']) for s in samples]).argmax(dim=1)
    true = torch.stack([torch.as_tensor(s['gt_label']).view(()) for s in samples])
    correct = (pred == true).float()
    group = [frequencies[int(t)] for t in true]
    out = {'top1': correct.mean().item()}
    for g in 'fcr':
        mask = torch.tensor([x == g for x in group])
        if mask.any():
            out[f'top1_{g}'] = correct[mask].mean().item()
    out['mean_class'] = torch.stack([correct[true == k].mean() for k in true.unique()]
                                    ).mean().item()
    return out


def caption_naming(predictions: str, annotations: str, classes: Sequence,
                   num_examples: int) -> dict:
    """How well greedy captions name what the images show, from the dump of ``tools/test.py
    --out`` (``img_path``, ``caption``, ``pred_caption`` per sample) and the JSON lines file the
    images come from (``image`` relative to its folder, ``objects``: class names). A caption
    names class ``c`` when it holds "<colour> <shape>". Returns ``recall`` (the images' classes
    named, fraction over all (image, class) pairs), ``precision`` (the classes named that the
    image shows), ``exact`` (the images whose named classes are exactly theirs), ``num_images``
    and the first ``num_examples`` as ``examples`` (image, caption, generated)."""
    with open(annotations) as f:
        objects = {}
        for line in f:
            entry = json.loads(line)
            objects[osp.normpath(entry['image'])] = set(entry['objects'])
    samples = mmengine.load(predictions)
    if not samples:
        raise ValueError(f'{predictions} holds no predictions')
    shown = named = hits = exact = 0
    examples = []
    for sample in samples:
        path = osp.normpath(sample['img_path'])
        key = next((k for k in objects if path == k or path.endswith(os.sep + k)), None)
        if key is None:
            raise KeyError(f'{predictions}: {sample["img_path"]} is not an image of {annotations}')
        truth = objects[key]
        said = {c.name for c in classes if f'{c.colour} {c.shape}' in sample['pred_caption']}
        shown += len(truth)
        named += len(said)
        hits += len(truth & said)
        exact += said == truth
        if len(examples) < num_examples:
            examples.append(dict(image=key, caption=sample['caption'],
                                 generated=sample['pred_caption']))
    return dict(recall=hits / max(shown, 1), precision=hits / max(named, 1),
                exact=exact / len(samples), num_images=len(samples), examples=examples)


def plot_curves(series: dict[str, list[dict]], keys: Sequence[str], path: str,
                title: str) -> list[str]:
    """One panel per loss in ``keys`` (three a row), one line per run in ``series`` (label ->
    scalars records); panels without data are left out. Writes ``path`` (PNG); returns the keys
    plotted."""
    present = [k for k in keys if any(curve(recs, k)[0] for recs in series.values())]
    if not present:
        raise ValueError(f'none of {list(keys)} was logged in {list(series)}')
    cols = min(3, len(present))
    rows = -(-len(present) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, present):
        for label, recs in series.items():
            xs, ys = curve(recs, key)
            if xs:
                ax.plot(xs, ys, label=label, linewidth=1.4)
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return present


def detection_grid(image_dir: str, truth: list[dict], rows: dict[str, str], novel: set[str],
                   path: str, max_images: int = 6, score_thr: float = 0.0) -> int:
    """A PNG grid: the first ``max_images`` held-out images (columns) with their ground truth
    (first row) and, one row per entry of ``rows`` (label -> ``tools/infer.py`` out dir), the
    boxes it found scoring at least ``score_thr``. Novel (rare) class names are drawn in
    orange and starred. Returns the number of images shown."""
    shown = truth[:max_images]
    if not shown:
        raise ValueError('no held-out images to show')
    labels = ['ground truth', *rows]
    fig, axes = plt.subplots(len(labels), len(shown), squeeze=False,
                             figsize=(2.6 * len(shown), 2.75 * len(labels)))
    for col, item in enumerate(shown):
        image = plt.imread(osp.join(image_dir, item['image']))
        boxes = [dict(name=o['name'], box=o['bbox'], score=None) for o in item['objects']]
        cells = [boxes]
        for out_dir in rows.values():
            pred_path = osp.join(out_dir, 'preds', osp.basename(item['image']) + '.json')
            with open(pred_path) as f:
                pred = json.load(f)
            cells.append([dict(name=n, box=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=s)
                          for n, b, s in zip(pred['label_names'], pred['bboxes'], pred['scores'])
                          if s >= score_thr])
        for row, dets in enumerate(cells):
            ax = axes[row][col]
            ax.imshow(image, interpolation='nearest')
            for det in dets:
                x, y, w, h = det['box']
                is_novel = det['name'] in novel
                colour = '#ff8c00' if is_novel else 'white'
                ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=1.2))
                text = det['name'].replace('_', ' ') + ('*' if is_novel else '')
                if det['score'] is not None:
                    text += f' {det["score"]:.2f}'
                ax.text(x, y - 1, text, fontsize=5.5, color='black',
                        bbox=dict(facecolor=colour, alpha=0.8, pad=0.6, linewidth=0))
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(labels[row], fontsize=8)
    fig.suptitle('held-out images; * = rare class (no training box), orange', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(shown)


def caption_figure(image_dir: str, rows: list[list[str]], path: str) -> None:
    """A PNG (``path``) with, for each row after the header ``rows[0]`` (``image``, then a
    name per caption), the image (a path under ``image_dir``) and its captions, each after its
    name."""
    header, body = rows[0], rows[1:]
    if not body:
        raise ValueError('no captions to show')
    fig, axes = plt.subplots(len(body), 2, figsize=(9, 1.2 * len(body)), squeeze=False,
                             gridspec_kw=dict(width_ratios=(1, 6)))
    for (ax_image, ax_text), row in zip(axes, body):
        ax_image.imshow(plt.imread(osp.join(image_dir, row[0])), interpolation='nearest')
        ax_text.text(0, 0.5, '\n'.join(f'{name}: {text}' for name, text in
                                       zip(header[1:], row[1:])), va='center', fontsize=8)
        ax_image.axis('off')
        ax_text.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def metrics_table(metrics: dict[str, dict[str, float]], names: Sequence[str] = TABLE_METRICS,
                  first: str = 'detector initialised from') -> list[list[str]]:
    """Rows (header first, ``first`` over the labels) of LVIS metrics in percent; -1 (no ground
    truth) shows as n/a."""
    rows = [[first, *names]]
    for label, values in metrics.items():
        rows.append([label, *('n/a' if values[n] < 0 else f'{100 * values[n]:.1f}'
                              for n in names)])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ['| ' + ' | '.join(rows[0]) + ' |', '|' + ' --- |' * len(rows[0])]
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows[1:]]
    return '\n'.join(lines)


def html_table(rows: list[list[str]]) -> str:
    head = ''.join(f'<th>{html.escape(c)}</th>' for c in rows[0])
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in r) + '</tr>'
                   for r in rows[1:])
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def markdown_to_html(markdown: str, title: str) -> str:
    """A small renderer for the report's own markdown: headings, paragraphs, lists, tables,
    images and fenced code."""
    out, table, code, para = [], [], None, []

    def flush_para() -> None:
        if para:
            out.append('<p>' + html.escape(' '.join(para)) + '</p>')
            para.clear()

    def flush_table() -> None:
        if table:
            rows = [r for r in table if not set(''.join(r)) <= set('- ')]
            out.append(html_table(rows))
            table.clear()

    for line in markdown.splitlines():
        if code is not None:
            if line.startswith('```'):
                out.append('<pre>' + html.escape('\n'.join(code)) + '</pre>')
                code = None
            else:
                code.append(line)
            continue
        if line.startswith('```'):
            flush_para()
            flush_table()
            code = []
        elif line.startswith('|'):
            flush_para()
            table.append([c.strip() for c in line.strip().strip('|').split('|')])
        else:
            flush_table()
            if line.startswith('#'):
                flush_para()
                level = len(line) - len(line.lstrip('#'))
                out.append(f'<h{level}>{html.escape(line[level:].strip())}</h{level}>')
            elif line.startswith('!['):
                flush_para()
                alt, src = line[2:].split('](', 1)
                out.append(f'<p><img src="{html.escape(src.rstrip(")"))}" '
                           f'alt="{html.escape(alt)}" style="max-width:100%"></p>')
            elif line.startswith('- '):
                flush_para()
                out.append('<ul><li>' + html.escape(line[2:]) + '</li></ul>')
            elif line.strip():
                para.append(line.strip())
            else:
                flush_para()
    flush_para()
    flush_table()
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
            '</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}'
            'table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}'
            'pre{background:#f4f4f4;padding:8px;overflow-x:auto}</style></head><body>'
            + '\n'.join(out) + '</body></html>')


def write_report(out_dir: str, markdown: str, title: str) -> dict[str, str]:
    """Write ``report.md`` and ``report.html`` to ``out_dir``; returns their paths."""
    paths = dict(markdown=osp.join(out_dir, 'report.md'), html=osp.join(out_dir, 'report.html'))
    os.makedirs(out_dir, exist_ok=True)
    with open(paths['markdown'], 'w') as f:
        f.write(markdown)
    with open(paths['html'], 'w') as f:
        f.write(markdown_to_html(markdown, title))
    return paths
