"""tools/run_experiment.py --quick end to end through the real tools: the report and its files,
the metric keys of all three detectors, the VQA accuracies of the four initialisations and the
greedy captions, and a rerun with a second seed that reuses the finished stages and reports means
and paired intervals."""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys

import matplotlib.image as mpimg
import pytest
from mmengine.config import Config

from mammut_det.vqa import evaluate_vqa_files

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow  # the whole quick experiment, several minutes
VARIANTS = ('two-pass', 'contrastive', 'random')
# detector (a) under the other VLM-score source than its preset's, and F-VLM's frozen backbone
PRESET_SOURCE = Config.fromfile(osp.join(ROOT, 'configs/experiment/mammut-tiny_ovd_shapes-world.py')
                                ).model.vlm_score.get('source', 'backbone')
VLM_STAGES = [f'test_two-pass-vlm-{"backbone" if PRESET_SOURCE == "pretrained" else "pretrained"}',
              'detector_two-pass-frozen', 'test_two-pass-vlm-frozen']
# the VQA fine-tuning arms: the detection ones and (d) generative-only pretraining
VQA_VARIANTS = (*VARIANTS, 'generative')
GENERATIVE_STAGES = (['vqa_data', 'pretrain_generative', 'captions_two-pass',
                      'captions_generative']
                     + [f'{s}_{v}' for v in VQA_VARIANTS for s in ('vqa', 'test-vqa')])
IN_PROCESS = ['world', 'crops', 'vqa_data']
STAGES = ['world', 'crops'] + [f'{s}_{v}' for v in VARIANTS for s in (
    ('pretrain', 'zeroshot', 'detector', 'test', 'infer') if v != 'random'
    else ('detector', 'test', 'infer'))] + VLM_STAGES + GENERATIVE_STAGES
METRICS = {'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf'}
LABELS = {'two-pass': '(a) two-pass MaMMUT', 'contrastive': '(b) contrastive only',
          'random': '(c) random initialisation', 'generative': '(d) generative only'}


def _run(out: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, 'tools/run_experiment.py', '--quick', '--out-dir', out,
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
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
        assert marker['cpu_seconds'] > 0 or name in IN_PROCESS
        assert f'] {name}: ' in stdout  # its banner
    tools = {'pretrain': 'tools/train.py', 'detector': 'tools/train.py', 'test': 'tools/test.py',
             'zeroshot': 'tools/test.py', 'infer': 'tools/infer.py', 'vqa': 'tools/train.py',
             'test-vqa': 'tools/test.py', 'captions': 'tools/test.py'}
    for name in (n for n in STAGES if n not in IN_PROCESS):
        with open(osp.join(out, 'stages', f'{name}.json')) as f:
            command = json.load(f)['command']
        assert tools[name.split('_')[0]] in command and 'MAMMUT_EXPERIMENT=' in command
    log = open(osp.join(out, 'logs', 'pretrain_two-pass.log')).read()
    assert 'loss_caption' in log and 'loss_contrastive' in log
    assert 'loss_caption' not in open(osp.join(out, 'logs', 'pretrain_contrastive.log')).read()
    log = open(osp.join(out, 'logs', 'pretrain_generative.log')).read()
    assert 'loss_caption' in log and 'loss_contrastive' not in log
    with open(osp.join(out, 'stages', 'vqa_generative.json')) as f:
        assert 'load_from=' in json.load(f)['command']
    with open(osp.join(out, 'stages', 'vqa_random.json')) as f:
        assert 'load_from' not in json.load(f)['command']
    assert 'vqa/accuracy' in open(osp.join(out, 'logs', 'test-vqa_random.log')).read()
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
    assert results['cpu_seconds'] >= sum(results['stage_cpu_seconds'].values()) > 0
    assert 0 < results['quiet_estimate_seconds'] <= results['cpu_seconds']
    assert '| stage | seconds | CPU seconds |' in report


def test_report_holds_the_vqa_table_and_greedy_captions(experiment):
    out, _ = experiment
    with open(osp.join(out, 'results.json')) as f:
        results = json.load(f)
    report = open(osp.join(out, 'report.md')).read()
    assert set(results['vqa']) == set(VQA_VARIANTS)
    with open(osp.join(out, 'vqa', 'v2_OpenEnded_toy_val_questions.json')) as f:
        questions = json.load(f)['questions']
    for variant, scores in results['vqa'].items():
        assert set(scores['perAnswerType']) == {'other', 'number'}
        assert set(scores['perQuestionType']) == {'what colour is the', 'how many',
                                                  'what shape is the'}
        # the report's number is the official evaluator's on the answers tools/test.py wrote
        answers = osp.join(out, f'test-vqa_{variant}', 'results.json')
        with open(answers) as f:
            assert sorted(a['question_id'] for a in json.load(f)) == sorted(
                q['question_id'] for q in questions)
        official = evaluate_vqa_files(osp.join(out, 'vqa', 'v2_OpenEnded_toy_val_questions.json'),
                                      osp.join(out, 'vqa', 'v2_toy_val_annotations.json'), answers)
        assert official['overall'] == scores['overall'], variant
        row = next(line for line in report.splitlines()
                   if line.startswith(f'| {LABELS[variant]} | ') and line.count('|') == 8)
        assert row.split('|')[2].strip() == f'{scores["overall"]:.1f}'
    baselines = results['vqa_baselines']
    assert set(baselines) == {'overall_majority', 'per_type_majority'}
    assert all(0 <= b['overall'] <= 100 for b in baselines.values())
    assert '| majority answer ("' in report and '| majority answer of the question type (' in report
    assert '71.7' in report and '| VQA model initialised from | overall |' in report
    assert set(results['captions']) == {'two-pass', 'generative'}
    with open(osp.join(out, 'world', 'pretrain', 'val.jsonl')) as f:
        truth = {json.loads(line)['image']: json.loads(line)['caption'] for line in f}
    for caps in results['captions'].values():
        assert caps['num_images'] == len(truth)
        assert all(0 <= caps[k] <= 1 for k in ('recall', 'precision', 'exact'))
        assert len(caps['examples']) == 3
        for e in caps['examples']:
            assert e['caption'] == truth[e['image']] and isinstance(e['generated'], str)
            assert f'| {e["image"]} | {e["caption"]} |' in report
    for png in ('vqa_losses.png', 'captions.png'):
        assert f']({png})' in report
        image = mpimg.imread(osp.join(out, png))
        assert image.shape[0] > 150 and image.shape[1] > 200 and image.std() > 0.01, png


def test_seeds_rerun_reuses_seed_0_resumes_a_missing_stage_and_reports_means_and_intervals(
        experiment):
    """``--seeds 2`` in the one-seed run's folder: seed 0's stages are reused (two markers
    removed as if interrupted there: those rerun), seed 1's run with ``randomness.seed=1``, and
    the report gives every number's mean and sd over the two seeds and each claim's paired
    difference with a 95% interval (plumbing: the quick numbers mean nothing)."""
    out, _ = experiment
    redo = ('infer_random', 'test-vqa_generative')
    for name in redo:
        os.remove(osp.join(out, 'stages', f'{name}.json'))  # as if interrupted there
    logs = {n: os.stat(osp.join(out, 'logs', f'{n}.log')).st_mtime_ns for n in STAGES}
    with open(osp.join(out, 'results.json')) as f:
        before = json.load(f)
    stdout = _run(out, '--seeds', '2').stdout
    assert '2 seed(s)' in stdout and 'expected: about' in stdout
    for name in STAGES:
        if name not in redo:
            assert f'] {name}: done before' in stdout, name
            assert os.stat(osp.join(out, 'logs', f'{name}.log')).st_mtime_ns == logs[name]
    assert '] infer_random: detector (c)' in stdout
    assert '] test-vqa_generative: official VQA accuracy' in stdout
    for name in redo:
        assert os.stat(osp.join(out, 'logs', f'{name}.log')).st_mtime_ns > logs[name]
    seed1 = [n + '.seed1' for n in STAGES if n not in IN_PROCESS and not n.startswith('infer')]
    for name in seed1:
        with open(osp.join(out, 'stages', f'{name}.json')) as f:
            command = json.load(f)['command']
        if 'tools/train.py' in command:
            assert command.endswith('randomness.seed=1'), name
        assert f'--work-dir {out}/{name}' in command, name
    with open(osp.join(out, 'results.json')) as f:
        results = json.load(f)
    assert results['vqa']['generative'] == before['vqa']['generative']  # same weights alike
    assert results['metrics'] == before['metrics']  # the seed-0 tables stay seed 0's
    seeds = results['seeds']
    assert seeds['seeds'] == [0, 1] and seeds['level'] == 0.95
    apr = seeds['numbers']['two-pass']['APr']
    seed1_apr = json.load(open(osp.join(out, 'stages', 'test_two-pass.seed1.json')))
    assert apr == pytest.approx([100 * before['metrics']['two-pass']['APr'],
                                 100 * seed1_apr['outputs']['metrics']['APr']])
    summary = seeds['summary']['two-pass']['APr']
    assert summary['mean'] == pytest.approx(sum(apr) / 2)
    assert summary['sd'] == pytest.approx(abs(apr[0] - apr[1]) / 2 ** 0.5)
    claims = {(c['arm'], c['base'], c['metric']): c for c in seeds['claims']}
    # the main job's claims and the VLM-score ones; the ablation arms did not run
    assert set(claims) == {('two-pass', 'contrastive', 'APr'), ('two-pass', 'random', 'APr'),
                           ('two-pass', 'contrastive', 'toy VQA accuracy'),
                           ('two-pass', 'generative', 'toy VQA accuracy'),
                           ('vlm-pretrained', 'vlm-backbone', 'APr'),
                           ('vlm-frozen', 'vlm-backbone', 'APr')}
    c = claims[('two-pass', 'random', 'APr')]
    diffs = [a - b for a, b in zip(apr, seeds['numbers']['random']['APr'])]
    half = 12.706 * abs(diffs[0] - diffs[1]) / 2 ** 0.5 / 2 ** 0.5  # t(0.975, 1 dof)
    assert c['diff'] == pytest.approx(sum(diffs) / 2)
    assert (c['lo'], c['hi']) == pytest.approx((c['diff'] - half, c['diff'] + half), rel=1e-3)
    report = open(osp.join(out, 'report.md')).read()
    assert '| arm | number | mean | sd | seed 0 | seed 1 |' in report
    assert '| paired difference [95% interval] |' in report
    row = next(line for line in report.splitlines()
               if line.startswith('| pretraining (a) vs (b), (c) | APr | (a) two-pass MaMMUT | '
                                  '(c) random initialisation |'))
    assert f'{c["diff"]:+.1f} [{c["lo"]:+.1f}, {c["hi"]:+.1f}]' in row
    assert row.rstrip(' |').endswith(c['verdict'])
    assert 'python tools/run_experiment.py --quick --seeds 2' in report
