"""tools/train.py -> tools/test.py on a toy LVIS set; the test numbers equal the official LVIS
evaluator run directly on the dumped detections."""
import glob
import json
import os
import subprocess
import sys

import pytest
import torch
from lvis import LVIS, LVISEval, LVISResults
from mmengine.fileio import load

import mammut_det  # noqa: F401  (the np.float workaround for lvis 0.5.3)
from mammut_det.apis import OVDetInferencer
from mammut_det.detection import make_toy_lvis
from mammut_det.evaluation import predictions_to_lvis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs/detection/mammut-tiny_ovd_toy-lvis.py')
METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')


def _run(args: list[str]) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det_tools')
    data = str(tmp / 'toy_lvis') + '/'
    paths = make_toy_lvis(data, num_train=24, num_val=6)
    common = [f'model.class_embedder.tokenizer.path={paths["tokenizer"]}',
              f'model.class_embedder.cache_dir={tmp / "embeddings"}', 'randomness.seed=0']
    work = str(tmp / 'train')
    _run(['tools/train.py', CONFIG, '--work-dir', work, '--cfg-options', *common,
          f'train_dataloader.dataset.dataset.data_root={data}', 'train_cfg.max_iters=30',
          'default_hooks.checkpoint.interval=30', 'val_cfg=None', 'val_dataloader=None',
          'val_evaluator=None'])
    return dict(tmp=tmp, data=data, paths=paths, common=common,
                checkpoint=os.path.join(work, 'iter_30.pth'))


def test_checkpoint_keeps_the_seen_classes(trained):
    ckpt = torch.load(trained['checkpoint'], map_location='cpu', weights_only=True)
    base = ['red_square', 'green_circle', 'blue_triangle', 'yellow_square']
    extra = ckpt['state_dict']['_extra_state']
    assert json.loads(bytes(extra.tolist())) == dict(seen_classes=base)
    assert list(ckpt['meta']['dataset_meta']['base_classes']) == base
    assert any(k.startswith('class_embedder.text.') for k in ckpt['state_dict'])


def test_test_tool_matches_the_official_lvis_evaluator(trained):
    work = str(trained['tmp'] / 'test')
    out = os.path.join(work, 'dets.pkl')
    ann = trained['paths']['val']
    _run(['tools/test.py', CONFIG, trained['checkpoint'], '--work-dir', work, '--out', out,
          '--show-dir', 'vis', '--cfg-options', *trained['common'],
          f'test_dataloader.dataset.data_root={trained["data"]}',
          f'test_evaluator.ann_file={ann}'])
    (log_json,) = glob.glob(os.path.join(work, '*', '*.json'))
    reported = json.load(open(log_json))
    assert len(glob.glob(os.path.join(work, '*', 'vis', '*.jpg'))) == 6

    predictions = load(out)
    assert len(predictions) == 6
    gt = LVIS(ann)
    records = predictions_to_lvis(predictions, gt.get_cat_ids())
    assert len(records) == sum(len(p['pred_instances']['scores']) for p in predictions) > 0
    lvis_eval = LVISEval(gt, LVISResults(gt, records), 'bbox')
    lvis_eval.params.imgIds = gt.get_img_ids()
    lvis_eval.run()
    official = lvis_eval.get_results()
    for name in METRICS:
        assert reported[f'lvis/bbox_{name}'] == round(float(official[name]), 3), name
    assert official['AP50'] > 0


def _predictions(path: str) -> list[dict]:
    return [p['pred_instances'] for p in sorted(load(path), key=lambda p: p['img_id'])]


@pytest.mark.slow
def test_checkpoint_runs_without_the_tokenizer_file(trained):
    """The checkpoint carries the tokenizer: with the config's tokenizer file gone, tools/test.py
    and the inference API give what they give with it."""
    ckpt = torch.load(trained['checkpoint'], map_location='cpu', weights_only=True)
    with open(trained['paths']['tokenizer'], encoding='utf-8') as f:
        content = f.read()
    assert ckpt['meta']['tokenizers'] == {
        'class_embedder.tokenizer': dict(type='BPETokenizer', content=content)}
    gone = str(trained['tmp'] / 'deleted' / 'tokenizer.json')
    without = [o for o in trained['common'] if '.tokenizer.path=' not in o]
    without.append(f'model.class_embedder.tokenizer.path={gone}')
    data = [f'test_dataloader.dataset.data_root={trained["data"]}',
            f'test_evaluator.ann_file={trained["paths"]["val"]}']
    outs = {}
    for name, options in (('with', trained['common']), ('without', without)):
        work = str(trained['tmp'] / f'tokenizer_{name}')
        outs[name] = os.path.join(work, 'dets.pkl')
        log = _run(['tools/test.py', CONFIG, trained['checkpoint'], '--work-dir', work,
                    '--out', outs[name], '--cfg-options', *options, *data])
    assert 'using the BPETokenizer stored in the checkpoint' in log
    for a, b in zip(_predictions(outs['with']), _predictions(outs['without']), strict=True):
        assert len(a['scores']) > 0
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a[key], b[key]), key

    image = sorted(glob.glob(os.path.join(trained['data'], 'val2017', '*.jpg')))[0]
    results = []
    for path in (trained['paths']['tokenizer'], gone):
        inferencer = OVDetInferencer(CONFIG, trained['checkpoint'], device='cpu', cfg_options={
            'model.class_embedder.tokenizer.path': path,
            'model.class_embedder.cache_dir': None})
        results.append(inferencer(image, score_thr=0.0)['predictions'][0])
    assert results[0]['scores'] and results[0] == results[1]
