"""Caption metrics through pycocoevalcap's scorers (BLEU, METEOR, ROUGE-L, CIDEr, SPICE)."""
from __future__ import annotations

import contextlib
import io
import logging
import os.path as osp
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from typing import Any

from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmengine.registry import METRICS

SCORERS = ('bleu', 'meteor', 'rouge', 'cider', 'spice')
#: result names, those of pycocoevalcap's COCOEvalCap (BLEU gives Bleu_1 .. Bleu_4)
SCORE_NAMES = dict(meteor='METEOR', rouge='ROUGE_L', cider='CIDEr', spice='SPICE')
JAVA_HELP = ('pycocoevalcap\'s PTB tokenizer and METEOR run Java (8 or newer); install a Java '
             'runtime, e.g. `apt-get install default-jre-headless` (Debian/Ubuntu), and make '
             '`java` reachable on PATH')
_spice_note_logged = False


@cache
def java_version() -> int:
    """The major version of ``java`` on PATH; a RuntimeError saying what to install if there is
    none or it is older than 8."""
    java = shutil.which('java')
    if java is None:
        raise RuntimeError(f'CaptionMetric: no `java` on PATH. {JAVA_HELP}.')
    out = subprocess.run([java, '-version'], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if found is None:
        raise RuntimeError(f'CaptionMetric: cannot read the version of {java} '
                           f'({(out.stderr or out.stdout).strip()[:200]!r}). {JAVA_HELP}.')
    major = int(found.group(1))
    if major == 1:  # "1.8.0_392" is Java 8
        major = int(found.group(2) or 0)
    if major < 8:
        raise RuntimeError(f'CaptionMetric: {java} is Java {major}. {JAVA_HELP}.')
    return major


def check_scorers(scorers: Sequence[str]) -> tuple[str, ...]:
    """``scorers`` as a tuple, or a ValueError naming the unknown ones."""
    unknown = set(scorers) - set(SCORERS)
    if unknown:
        raise ValueError(f'unknown caption scorer(s) {sorted(unknown)}; choose from {SCORERS}')
    return tuple(scorers)


def spice_models_missing() -> str | None:
    """Why SPICE cannot run offline (its Stanford CoreNLP 3.6.0 jars, which pycocoevalcap
    downloads on first use, are absent), or ``None`` when they are in place."""
    from pycocoevalcap.spice import get_stanford_models as models
    lib = osp.join(models.SPICEDIR, models.SPICELIB)
    names = [f'{models.JAR}.jar', f'{models.JAR}-models.jar']
    missing = [n for n in names if not osp.isfile(osp.join(lib, n))]
    if not missing:
        return None
    return (f'SPICE skipped: pycocoevalcap\'s SPICE needs {" and ".join(missing)} in {lib}, '
            'which it would download from nlp.stanford.edu on first use; nothing is downloaded '
            'at run time here (put the jars there to enable SPICE)')


def score_captions(gts: dict[Any, list[str]], res: dict[Any, str],
                   scorers: Sequence[str] = SCORERS) -> dict[str, float]:
    """pycocoevalcap scores of predictions ``res`` (id -> caption) against references ``gts``
    (id -> captions), both tokenised by its PTBTokenizer, as on the COCO server: ``Bleu_1`` ..
    ``Bleu_4``, ``METEOR``, ``ROUGE_L``, ``CIDEr``, ``SPICE`` (those of ``scorers``; SPICE only
    when its models are present), each multiplied by 100."""
    check_scorers(scorers)
    if gts.keys() != res.keys():
        raise ValueError('score_captions: predictions and references cover different ids')
    java_version()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    tokenizer = PTBTokenizer()
    keys = {k: i for i, k in enumerate(gts)}  # plain int keys for the tokenizer and scorers
    gts_tok = tokenizer.tokenize({keys[k]: [{'caption': c} for c in v] for k, v in gts.items()})
    res_tok = tokenizer.tokenize({keys[k]: [{'caption': v}] for k, v in res.items()})
    out: dict[str, float] = {}
    for name in scorers:
        if name == 'spice' and not _spice_available():
            continue
        scorer = _scorer(name)
        with contextlib.redirect_stdout(io.StringIO()):  # BLEU prints its n-gram counts
            score, _ = scorer.compute_score(gts_tok, res_tok)
        if name == 'bleu':
            out.update({f'Bleu_{n + 1}': 100.0 * s for n, s in enumerate(score)})
        else:
            out[SCORE_NAMES[name]] = 100.0 * float(score)
        del scorer  # METEOR's java process ends with its scorer
    return out


def _spice_available() -> bool:
    global _spice_note_logged
    why = spice_models_missing()
    if why and not _spice_note_logged:
        print_log(why, logger='current', level=logging.WARNING)
        _spice_note_logged = True
    return why is None


def _scorer(name: str) -> Any:
    if name == 'bleu':
        from pycocoevalcap.bleu.bleu import Bleu
        return Bleu(4)
    if name == 'meteor':
        from pycocoevalcap.meteor.meteor import Meteor
        return Meteor()
    if name == 'rouge':
        from pycocoevalcap.rouge.rouge import Rouge
        return Rouge()
    if name == 'cider':
        from pycocoevalcap.cider.cider import Cider
        return Cider()
    from pycocoevalcap.spice.spice import Spice
    return Spice()


@METRICS.register_module()
class CaptionMetric(BaseMetric):
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr (and SPICE when its models are present offline) of
    ``pred_caption`` against ``gt_captions``, over all processes' samples, through pycocoevalcap
    (:func:`score_captions`; values x100, as papers report them: CIDEr 73.6 is 0.736).

    Samples carry ``img_id`` (images) or ``video_id`` (videos), ``pred_caption`` and
    ``gt_captions``; evaluate on one sample per image or video (the captioning datasets do in
    ``test_mode``): an id seen twice is an error. Java must be installed (checked when the metric
    is built, with an error saying what to install).

    Args:
        scorers: which of ``'bleu'``, ``'meteor'``, ``'rouge'``, ``'cider'``, ``'spice'``.
        results_file: where to write ``[{"image_id", "caption"}]`` (COCO caption results).
        collect_device, prefix: as :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix = 'caption'

    def __init__(self, scorers: Sequence[str] = SCORERS, results_file: str | None = None,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.scorers = check_scorers(scorers)
        java_version()
        self.results_file = results_file

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            item_id = s.get('img_id', s.get('video_id'))
            pred, gts = s.get('pred_caption'), s.get('gt_captions')
            if item_id is None or not isinstance(pred, str) or not gts:
                raise KeyError(f'CaptionMetric: each sample needs img_id or video_id, a '
                               f'pred_caption string and gt_captions (got {item_id!r}, '
                               f'{pred!r}, {gts!r})')
            self.results.append(dict(id=item_id, pred=pred, gts=list(gts)))

    def compute_metrics(self, results: list) -> dict[str, float]:
        gts, res = {}, {}
        for r in results:
            if r['id'] in res:
                raise ValueError(f'CaptionMetric: id {r["id"]!r} has more than one sample; '
                                 'evaluate on one sample per image or video (per_item=True, '
                                 'the captioning datasets\' default in test_mode)')
            gts[r['id']], res[r['id']] = r['gts'], r['pred']
        if self.results_file:
            dump([dict(image_id=k, caption=v) for k, v in res.items()], self.results_file)
        out = score_captions(gts, res, self.scorers)
        print_log(f'caption scores over {len(res)} items: '
                  + ', '.join(f'{k} {v:.2f}' for k, v in out.items()), logger='current')
        return out
