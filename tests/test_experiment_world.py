"""The experiment's world generator (LVIS files the official API reads, rare classes only in
captions and evaluation, determinism, occlusion) and its resumable stage runner."""
from __future__ import annotations

import filecmp
import io
import json
import os
import os.path as osp
import sys
import time

import numpy as np
import pytest
from lvis import LVIS
from mmengine.config import Config

import mammut_det  # noqa: F401  (the np.float workaround for lvis 0.5.3)
from mammut_det.datasets import CaptionDataset
from mammut_det.experiment import (
    Pipeline,
    Stage,
    StageFailed,
    WorldSettings,
    class_weights,
    draw_scene,
    grid_classes,
    is_complete,
    make_world,
    world_classes,
)
from mammut_det.experiment.world import MIN_VISIBLE, PALETTE
from mammut_det.text import BPETokenizer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL = dict(num_pretrain=60, num_pretrain_val=10, num_det_train=30, num_det_val=20, num_infer=3)


@pytest.fixture(scope='module')
def world(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('world') / 'world')
    assert make_world(out, WorldSettings(**SMALL))
    return out


def _names(world_dir: str) -> list[str]:
    with open(osp.join(world_dir, 'classes.txt')) as f:
        return f.read().split()


def test_lvis_files_hold_rare_classes_only_for_evaluation(world):
    classes = world_classes()
    rare = {c.name for c in classes if c.frequency == 'r'}
    assert _names(world) == [c.name for c in classes] and len(rare) == 4
    train = LVIS(osp.join(world, 'annotations', 'lvis_v1_train.json'))
    val = LVIS(osp.join(world, 'annotations', 'lvis_v1_val.json'))
    cats = {c['name']: c for c in train.dataset['categories']}
    assert [c['frequency'] for c in cats.values()] == [c.frequency for c in classes]
    train_names = [train.cats[a['category_id']]['name'] for a in train.anns.values()]
    val_names = [val.cats[a['category_id']]['name'] for a in val.anns.values()]
    assert not rare & set(train_names)
    assert rare <= set(val_names)
    for name, cat in cats.items():
        assert cat['instance_count'] == train_names.count(name)
        assert {'synset', 'image_count', 'synonyms', 'def'} <= set(cat)
    for api in (train, val):
        for img in api.dataset['images']:
            present = {a['category_id'] for a in api.img_ann_map[img['id']]}
            assert set(img['neg_category_ids']) == set(api.cats) - present
            assert img['not_exhaustive_category_ids'] == []
            assert osp.isfile(osp.join(world, img['coco_url'].split('.org/')[1]))
        for a in api.anns.values():
            x, y, w, h = a['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128
            assert a['area'] <= w * h and a['segmentation']


def test_captions_name_every_class_and_load_as_a_caption_dataset(world):
    ds = CaptionDataset(ann_file=osp.join(world, 'pretrain', 'train.jsonl'))
    assert len(ds) == SMALL['num_pretrain']
    with open(osp.join(world, 'pretrain', 'train.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        for name in row['objects']:
            assert name.replace('_', ' ') in row['caption']
    named = {n for row in rows for n in row['objects']}
    assert named == set(_names(world))  # rare classes too
    tok = BPETokenizer(osp.join(world, 'tokenizer.json'), context_length=16)
    lengths = [len(ids) for ids in tok.encode_batch([r['caption'] for r in rows])]
    assert max(lengths) + 2 <= 16  # the experiment configs' context length holds every caption


def test_world_is_deterministic_and_reused(world, tmp_path):
    other = str(tmp_path / 'again')
    make_world(other, WorldSettings(**SMALL))
    for rel in ('annotations/lvis_v1_train.json', 'pretrain/train.jsonl',
                'detection/val/000007.png', 'infer/000002.png', 'infer_objects.json'):
        assert filecmp.cmp(osp.join(world, rel), osp.join(other, rel), shallow=False), rel
    assert is_complete(other, WorldSettings(**SMALL))
    assert not make_world(other, WorldSettings(**SMALL))  # complete: nothing redrawn
    assert not is_complete(other, WorldSettings(**{**SMALL, 'seed': 1}))
    assert make_world(other, WorldSettings(**{**SMALL, 'num_infer': 1}))
    assert sorted(os.listdir(osp.join(other, 'infer'))) == ['000000.png']


def test_scene_boxes_cover_the_visible_pixels_of_each_object():
    classes = world_classes()
    weights = class_weights(classes, 'det_val', 0.3)
    for seed in range(20):
        img, _, objs = draw_scene(np.random.default_rng(seed), 128, classes, weights, 5,
                                  (0.08, 0.2), 3)
        for o in objs:
            x, y, w, h = (int(v) for v in o.bbox)
            colour = np.array(PALETTE[o.toy.colour][::-1])
            inside = np.abs(img[y:y + h, x:x + w].astype(int) - colour).sum(-1) < 30
            full = np.pi * o.toy.radius ** 2 if o.toy.shape == 'circle' else None
            assert inside.sum() > 0.5 * o.area
            if full is not None:
                assert o.area >= MIN_VISIBLE * full * 0.9


def test_class_specs_and_sampling_weights():
    grid = grid_classes(('red', 'green', 'blue'), ('circle', 'square', 'star'))
    assert [f for _, _, f in grid] == ['r', 'c', 'f', 'f', 'r', 'c', 'c', 'f', 'r']
    classes = world_classes(grid)
    w = class_weights(classes, 'det_train', 0.25)
    assert w.tolist() == [0, 0.25, 1, 1, 0, 0.25, 0.25, 1, 0]
    assert class_weights(classes, 'det_val', 0.25).tolist() == [1.0] * 9
    with pytest.raises(ValueError, match='colours are'):
        WorldSettings(classes=(('navy', 'circle', 'f'), ('red', 'star', 'r')))
    with pytest.raises(ValueError, match='need rare classes'):
        WorldSettings(classes=(('red', 'circle', 'f'),))
    with pytest.raises(ValueError, match='repeats'):
        WorldSettings(classes=(('red', 'circle', 'f'), ('red', 'circle', 'r')))
    with pytest.raises(ValueError, match='num_det_val'):
        WorldSettings(num_det_val=0)
    with pytest.raises(KeyError, match='unknown settings'):
        WorldSettings.from_dict({'colors': 3})


def test_detector_config_lists_the_world_classes(monkeypatch):
    monkeypatch.setenv('MAMMUT_EXPERIMENT', '/some/where')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/experiment/mammut-tiny_ovd_shapes-world.py'),
                          import_custom_modules=False)
    names = tuple(c.name for c in world_classes())
    assert cfg.classes == names == tuple(cfg.model.vocabulary)
    assert cfg.test_evaluator.ann_file == '/some/where/world/annotations/lvis_v1_val.json'
    assert cfg.model.backbone.init_cfg.checkpoint == '/some/where/checkpoints/mammut_two-pass.pth'
    pre = Config.fromfile(osp.join(ROOT, 'configs/experiment/mammut-tiny_contrastive_shapes-'
                                         'world.py'), import_custom_modules=False)
    assert pre.custom_hooks[0].weights == dict(contrastive=1.0, generative=0.0)


def _py(code: str) -> list[str]:
    return [sys.executable, '-c', code]


def test_pipeline_reuses_finished_stages_and_reruns_dependents(tmp_path):
    out = str(tmp_path / 'exp')
    trail = tmp_path / 'trail.txt'

    def stages(second: str) -> list[Stage]:
        return [
            Stage('one', 'first', command=_py(f'open({str(trail)!r}, "a").write("1"); '
                                              'print("hello from one")')),
            Stage('two', 'second', deps=('one',),
                  command=_py(f'open({str(trail)!r}, "a").write("{second}")'),
                  collect=lambda: dict(value=42)),
            Stage('three', 'in process', deps=('two',),
                  action=lambda log: log.write('summary\n') and dict(ok=True)),
        ]

    console = io.StringIO()
    done = Pipeline(out, stages('2'), env={'X': '1'}, jobs=2, console=console).run()
    assert trail.read_text() == '12'
    assert done['two']['outputs'] == dict(value=42) and done['three']['outputs'] == dict(ok=True)
    assert 'hello from one' in open(osp.join(out, 'logs', 'one.log')).read()
    assert '[one] hello from one' in console.getvalue()
    Pipeline(out, stages('2'), env={'X': '1'}).run()
    assert trail.read_text() == '12'  # all reused
    Pipeline(out, stages('b'), env={'X': '1'}).run()
    assert trail.read_text() == '12b'  # a changed command reruns that stage (and 'three')
    pipe = Pipeline(out, stages('b'), env={'X': '1'})
    assert pipe.forget(['one']) == ['one', 'two', 'three']
    pipe.run()
    assert trail.read_text() == '12b1b'
    with pytest.raises(KeyError, match='unknown stage'):
        pipe.forget(['four'])


def test_pipeline_stops_at_a_failing_stage(tmp_path):
    out = str(tmp_path / 'exp')
    stages = [Stage('bad', 'fails', command=_py('import sys; print("boom"); sys.exit(3)')),
              Stage('after', 'never runs', deps=('bad',), command=_py('print(1)'))]
    with pytest.raises(StageFailed, match=r'stage bad failed with exit status 3; log: .*bad\.log'):
        Pipeline(out, stages, env={}, console=io.StringIO()).run()
    assert not osp.exists(osp.join(out, 'stages', 'bad.json'))
    assert not osp.exists(osp.join(out, 'logs', 'after.log'))
    with pytest.raises(ValueError, match='not earlier'):
        Pipeline(out, stages[::-1], env={})


def test_report_table_and_html():
    from mammut_det.experiment.report import markdown_table, markdown_to_html, metrics_table
    metrics = {'(a) x': dict(AP=0.1234, AP50=0.5, APr=-1.0, APc=0.0, APf=0.25)}
    rows = metrics_table(metrics)
    assert rows == [['detector initialised from', 'AP', 'AP50', 'APr', 'APc', 'APf'],
                    ['(a) x', '12.3', '50.0', 'n/a', '0.0', '25.0']]
    text = '# Title\n\nsome words\nmore words\n\n' + markdown_table(rows) + '\n\n![plot](p.png)\n'
    page = markdown_to_html(text + '```\ncmd --a <b>\n```\n', 'T')
    assert '<h1>Title</h1>' in page and '<p>some words more words</p>' in page
    assert '<td>n/a</td>' in page and '<th>APr</th>' in page and '---' not in page
    assert '<img src="p.png"' in page and '<pre>cmd --a &lt;b&gt;</pre>' in page


def test_pipeline_records_each_stage_cpu_time_apart_from_its_wall_time(tmp_path):
    busy = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass'

    def burn(log) -> dict:
        start = time.process_time()
        while time.process_time() - start < 0.3:
            pass
        return {}

    stages = [Stage('busy', 'burns CPU', command=_py(busy)),
              Stage('idle', 'sleeps', command=_py('import time; time.sleep(0.8)')),
              Stage('inside', 'in process', deps=('busy', 'idle'), action=burn)]
    done = Pipeline(str(tmp_path), stages, env={}, jobs=2, console=io.StringIO()).run()
    # the two commands ran side by side: each keeps its own CPU time
    assert 0.6 <= done['busy']['cpu_seconds'] <= done['busy']['seconds'] + 0.1
    assert done['idle']['seconds'] >= 0.8 and done['idle']['cpu_seconds'] < 0.5
    assert 0.3 <= done['inside']['cpu_seconds'] <= done['inside']['seconds'] + 0.1


def test_schedule_estimate_follows_the_pipeline_policy():
    from mammut_det.experiment.pipeline import schedule_estimate

    def cmd(name: str, *deps: str) -> Stage:
        return Stage(name, name, deps=deps, command=['true'])

    stages = [Stage('w', 'world', action=lambda log: {}), cmd('p', 'w'), cmd('q', 'w'),
              cmd('r', 'w'), cmd('d', 'p'), Stage('s', 'summary', deps=('d', 'q', 'r'),
                                                 action=lambda log: {})]
    seconds = dict(w=1, p=10, q=4, r=3, d=5, s=2)
    # two at a time: w 0-1; p 1-11 and q 1-5; r 5-8; d 11-16; s alone 16-18
    assert schedule_estimate(stages, seconds, jobs=2) == 18
    # one at a time: everything in a row
    assert schedule_estimate(stages, seconds, jobs=1) == sum(seconds.values())
    # three at a time: p, q, r from 1; d 11-16; s 16-18
    assert schedule_estimate(stages, seconds, jobs=3) == 18
    with pytest.raises(ValueError, match='never run'):
        schedule_estimate([cmd('x', 'missing')], dict(x=1), jobs=2)
