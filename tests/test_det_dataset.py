"""LVIS base/novel split, the training loader without rare annotations, vocabulary parsing."""
import json
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mammut_det  # noqa: F401
from mammut_det.detection import TOY_LVIS_CLASSES, LVISV1OVDataset, load_vocabulary, make_toy_lvis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs/detection/mammut-tiny_ovd_toy-lvis.py')
RARE = {'white_circle', 'purple_triangle'}


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy_lvis'))
    paths = make_toy_lvis(root, num_train=12, num_val=4, tokenizer=False)
    return root, paths


def _dataset(root, ann, **kwargs):
    return LVISV1OVDataset(data_root=root, ann_file=ann, data_prefix=dict(img=''),
                           metainfo=dict(classes=TOY_LVIS_CLASSES), pipeline=[], **kwargs)


def test_split_and_drop_novel(toy):
    root, paths = toy
    raw = json.load(open(paths['train']))
    rare_ids = {c['id'] for c in raw['categories'] if c['frequency'] == 'r'}
    n_rare = sum(a['category_id'] in rare_ids for a in raw['annotations'])
    assert n_rare > 0

    full = _dataset(root, paths['train'])
    dropped = _dataset(root, paths['train'], drop_novel=True)
    for ds in (full, dropped):
        assert set(ds.metainfo['novel_classes']) == RARE
        assert ds.metainfo['base_classes'] == tuple(n for n in TOY_LVIS_CLASSES if n not in RARE)
    rare_labels = {TOY_LVIS_CLASSES.index(n) for n in RARE}

    def labels(ds):
        return [i['bbox_label'] for k in range(len(ds)) for i in ds.get_data_info(k)['instances']]
    assert len(labels(full)) == len(raw['annotations'])
    assert sum(lb in rare_labels for lb in labels(full)) == n_rare
    assert not rare_labels & set(labels(dropped))
    assert len(labels(dropped)) == len(raw['annotations']) - n_rare
    # every image's file resolves
    assert os.path.isfile(full.get_data_info(0)['img_path'])


def test_training_batches_have_no_rare_annotations(toy):
    """The tiny config's real training loader (repeat-factor sampling, LSJ): no rare box."""
    root, paths = toy
    cfg = Config.fromfile(CONFIG)
    loader = cfg.train_dataloader
    loader.dataset.dataset.data_root = root + '/'
    init_default_scope('mmdet')
    dl = Runner.build_dataloader(loader, seed=0)
    assert set(dl.dataset.metainfo['novel_classes']) == RARE
    rare_labels = torch.tensor([TOY_LVIS_CLASSES.index(n) for n in RARE])
    seen = torch.zeros(len(TOY_LVIS_CLASSES), dtype=torch.long)
    for batch in dl:
        for sample in batch['data_samples']:
            labels = sample.gt_instances.labels
            assert not torch.isin(labels, rare_labels).any()
            seen += torch.bincount(labels, minlength=len(TOY_LVIS_CLASSES))
    assert (seen[[TOY_LVIS_CLASSES.index(n) for n in TOY_LVIS_CLASSES if n not in RARE]] > 0).all()


def test_file_problems_name_the_category(toy, tmp_path):
    root, paths = toy
    raw = json.load(open(paths['val']))
    raw['categories'][2]['name'] = 'blue_pyramid'
    bad = tmp_path / 'renamed.json'
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"category id 3 is named 'blue_pyramid'.*classes\[2\]"):
        _dataset(root, str(bad))
    raw = json.load(open(paths['val']))
    del raw['categories'][4]['frequency']
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"category id 5 \('white_circle'\) has frequency None"):
        _dataset(root, str(bad))


def test_vocabulary_sources(tmp_path):
    lvis = load_vocabulary('lvis_v1')
    assert len(lvis) == 1203 and lvis[0] == 'aerosol_can'
    assert load_vocabulary(['cat', ' dog ']) == ('cat', 'dog')
    assert load_vocabulary('cat, dog,zebra') == ('cat', 'dog', 'zebra')
    f = tmp_path / 'vocab.txt'
    f.write_text('cat\ndog\n\n')
    assert load_vocabulary(str(f)) == ('cat', 'dog')


def test_vocabulary_errors_name_the_entry(tmp_path):
    with pytest.raises(ValueError, match='empty'):
        load_vocabulary([])
    with pytest.raises(ValueError, match='entry 1 is empty'):
        load_vocabulary('cat,,dog')
    with pytest.raises(ValueError, match=r"'dog' repeats \(entries 1 and 2\)"):
        load_vocabulary(['cat', 'dog', 'dog'])
    f = tmp_path / 'vocab.txt'
    f.write_text('cat\n\ndog\n')
    with pytest.raises(ValueError, match=r'vocab.txt:2: empty class name'):
        load_vocabulary(str(f))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        load_vocabulary(str(tmp_path / 'missing.txt'))
    with pytest.raises(TypeError, match='entry 0 is int'):
        load_vocabulary([3])
