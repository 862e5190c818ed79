"""tools/run_experiment.py --quick end to end through the real tools: the report and its files,
the metric keys of all three detectors, and a rerun that reuses the finished stages."""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys

import matplotlib.image as mpimg
import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow  # the whole quick experiment, several minutes
VARIANTS = ('two-pass', 'contrastive', 'random')
# detector (a) under the other VLM-score source than its preset's, and F-VLM's frozen backbone
PRESET_SOURCE = Config.fromfile(osp.join(ROOT, 'configs/experiment/mammut-tiny_ovd_shapes-world.py')
                                ).model.vlm_score.get('source', 'backbone')
VLM_STAGES = [f'test_two-pass-vlm-{"backbone" if PRESET_SOURCE == "pretrained" else "pretrained"}',
              'detector_two-pass-frozen', 'test_two-pass-vlm-frozen']
STAGES = ['world', 'crops'] + [f'{s}_{v}' for v in VARIANTS for s in (
    ('pretrain', 'zeroshot', 'detector', 'test', 'infer') if v != 'random'
    else ('detector', 'test', 'infer'))] + VLM_STAGES
METRICS = {'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf'}


def _run(out: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, 'tools/run_experiment.py', '--quick', '--out-dir', out],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope='module')
def experiment(tmp_path_factory) -> tuple[str, str]:
    out = str(tmp_path_factory.mktemp('experiment') / 'quick')
    return out, _run(out).stdout


def test_every_stage_ran_the_real_tool_and_left_a_marker_and_a_log(experiment):
    out, stdout = experiment
    for name in STAGES:
        with open(osp.join(out, 'stages', f'{name}.json')) as f:
            marker = json.load(f)
        assert osp.isfile(marker['log'])
        assert marker['seconds'] > 0 or name == 'crops'  # cropping a few boxes rounds to 0.0 s
        assert f'] {name}: ' in stdout  # its banner
    tools = {'pretrain': 'tools/train.py', 'detector': 'tools/train.py', 'test': 'tools/test.py',
             'zeroshot': 'tools/test.py', 'infer': 'tools/infer.py'}
    for name in STAGES[2:]:
        with open(osp.join(out, 'stages', f'{name}.json')) as f:
            command = json.load(f)['command']
        assert tools[name.split('_')[0]] in command and 'MAMMUT_EXPERIMENT=' in command
    log = open(osp.join(out, 'logs', 'pretrain_two-pass.log')).read()
    assert 'loss_caption' in log and 'loss_contrastive' in log
    assert 'loss_caption' not in open(osp.join(out, 'logs', 'pretrain_contrastive.log')).read()
    assert 'lvis/bbox_APr' in open(osp.join(out, 'logs', 'test_random.log')).read()
    assert 'acc/top1' in open(osp.join(out, 'logs', 'zeroshot_two-pass.log')).read()


def test_report_holds_the_ap_table_plots_and_detection_grid(experiment):
    out, stdout = experiment
    with open(osp.join(out, 'results.json')) as f:
        results = json.load(f)
    assert set(results['metrics']) == set(VARIANTS)
    for variant, metrics in results['metrics'].items():
        assert set(metrics) == METRICS, variant
        assert all(-1 <= v <= 1 for v in metrics.values())
        with open(osp.join(out, 'metrics', f'{variant}.json')) as f:
            assert json.load(f) == metrics
    report = open(osp.join(out, 'report.md')).read()
    header = '| detector initialised from | AP | AP50 | APr | APc | APf |'
    assert header in report
    for label in ('(a) two-pass MaMMUT', '(b) contrastive only', '(c) random initialisation'):
        row = next(line for line in report.splitlines() if line.startswith(f'| {label} |'))
        ap = results['metrics'][{'(a)': 'two-pass', '(b)': 'contrastive',
                                 '(c)': 'random'}[label[:3]]]['AP']
        assert row.split('|')[2].strip() == f'{100 * ap:.1f}'
    assert 'python tools/run_experiment.py --quick' in report and 'tools/infer.py' in report
    assert set(results['zero_shot']) == {'two-pass', 'contrastive'}
    for variant, acc in results['zero_shot'].items():
        assert {'top1', 'top1_f', 'mean_class'} <= set(acc) <= {'top1', 'top1_f', 'top1_c',
                                                                'top1_r', 'mean_class'}
        assert all(0 <= v <= 1 for v in acc.values()), variant
        label = {'two-pass': '(a) two-pass MaMMUT', 'contrastive': '(b) contrastive only'}[variant]
        row = [line for line in report.splitlines() if line.startswith(f'| {label} |')][1]
        assert row.split('|')[2].strip() == f'{100 * acc["top1"]:.1f}'
    # detector (a) under the three VLM-score settings; its preset's source is its own test
    assert set(results['vlm_score']) == {'pretrained', 'backbone', 'frozen'}
    assert all(set(m) == METRICS for m in results['vlm_score'].values())
    assert results['vlm_score'][PRESET_SOURCE] == results['metrics']['two-pass']
    assert '| VLM score of detector (a) | APr | APc | APf | AP |' in report
    for key, label in (('pretrained', '(i) frozen copy of the pretrained tower'),
                       ('backbone', '(ii) fine-tuned backbone'),
                       ('frozen', "(iii) F-VLM's frozen backbone")):
        row = next(line for line in report.splitlines() if line.startswith(f'| {label} |'))
        apr = results['vlm_score'][key]['APr']
        assert row.split('|')[2].strip() == ('n/a' if apr < 0 else f'{100 * apr:.1f}'), key
    with open(osp.join(out, 'stages', 'test_two-pass-vlm-frozen.json')) as f:
        assert 'model.backbone.frozen_stages=2' in json.load(f)['command']
    assert '<table>' in open(osp.join(out, 'report.html')).read()
    for png in ('pretrain_losses.png', 'detector_losses.png', 'detections.png'):
        assert f']({png})' in report
        image = mpimg.imread(osp.join(out, png))
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01, png
    for variant in VARIANTS:
        preds = os.listdir(osp.join(out, f'infer_{variant}', 'preds'))
        assert sorted(preds) == ['000000.png.json', '000001.png.json', '000002.png.json']
    assert 'experiment finished' in stdout


def test_rerun_reuses_finished_stages_and_resumes_a_missing_one(experiment):
    out, _ = experiment
    os.remove(osp.join(out, 'stages', 'infer_random.json'))  # as if interrupted there
    logs = {n: os.stat(osp.join(out, 'logs', f'{n}.log')).st_mtime_ns for n in STAGES}
    stdout = _run(out).stdout
    for name in STAGES:
        if name != 'infer_random':
            assert f'] {name}: done before' in stdout, name
            assert os.stat(osp.join(out, 'logs', f'{name}.log')).st_mtime_ns == logs[name]
    assert '] infer_random: detector (c)' in stdout
    assert os.stat(osp.join(out, 'logs', 'infer_random.log')).st_mtime_ns > logs['infer_random']
