"""Zero-shot image classification: the labelled-image dataset, the classifier's scores, the
config that runs it through tools/test.py."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS

from mammut_det.classification import ImageClassDataset, load_templates
from mammut_det.datasets import PackCaptionInputs, make_toy_classes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def toy_classes(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('toy_classes'))
    make_toy_classes(out, num_per_class=2, size=32, seed=0)
    return out


def test_toy_classes_are_a_folder_per_class_with_readable_names(toy_classes):
    folders = sorted(d for d in os.listdir(toy_classes) if os.path.isdir(
        os.path.join(toy_classes, d)))
    assert len(folders) == 56 and folders[0] == 'blue_circle'
    with open(os.path.join(toy_classes, 'classes.txt')) as f:
        names = f.read().splitlines()
    assert names == [d.replace('_', ' ') for d in folders]
    assert all(len(os.listdir(os.path.join(toy_classes, d))) == 2 for d in folders)


def test_folder_layout_labels_follow_sorted_folders(toy_classes):
    ds = ImageClassDataset(data_root=toy_classes)
    assert len(ds) == 112
    assert ds.metainfo['classes'][:2] == ('blue_circle', 'blue_cross')
    info = ds.get_data_info(2)
    assert info['gt_label'] == 1 and info['img_id'] == os.path.join('blue_cross', '000.png')
    named = ImageClassDataset(data_root=toy_classes, classes=os.path.join(toy_classes,
                                                                          'classes.txt'))
    assert named.metainfo['classes'][1] == 'blue cross'


def test_list_layout_and_its_errors_name_the_line(tmp_path, toy_classes):
    ann = tmp_path / 'val.txt'
    ann.write_text('blue_circle/000.png 0\n\nred_star/001.png 2\n')
    ds = ImageClassDataset(data_root=toy_classes, ann_file=str(ann), classes='a,b,c')
    assert [ds.get_data_info(i)['gt_label'] for i in range(len(ds))] == [0, 2]
    ann.write_text('blue_circle/000.png 0\nred_star/001.png 3\n')
    with pytest.raises(ValueError, match=r'val.txt:2: label 3 is not in \[0, 3\)'):
        ImageClassDataset(data_root=toy_classes, ann_file=str(ann), classes='a,b,c')
    ann.write_text('blue_circle/nothere.png 0\n')
    with pytest.raises(FileNotFoundError, match=r'val.txt:1: image file not found'):
        ImageClassDataset(data_root=toy_classes, ann_file=str(ann), classes='a,b,c')
    ann.write_text('blue_circle/000.png\n')
    with pytest.raises(ValueError, match=r'val.txt:1: expected "<image path> <label>"'):
        ImageClassDataset(data_root=toy_classes, ann_file=str(ann), classes='a,b,c')
    with pytest.raises(ValueError, match='classes is required'):
        ImageClassDataset(data_root=toy_classes, ann_file=str(ann))


def test_folder_layout_errors(tmp_path, toy_classes):
    with pytest.raises(ValueError, match='56 class folders'):
        ImageClassDataset(data_root=toy_classes, classes='a,b')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='has no class sub-folders'):
        ImageClassDataset(data_root=str(tmp_path / 'empty'))
    (tmp_path / 'one' / 'cat').mkdir(parents=True)
    (tmp_path / 'one' / 'cat' / 'notes.txt').write_text('x')
    with pytest.raises(ValueError, match=r"class folder '.*cat' has no images"):
        ImageClassDataset(data_root=str(tmp_path / 'one'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageClassDataset(data_root=str(tmp_path / 'missing'))


def test_pack_puts_the_label_in_a_data_field():
    img = torch.zeros(8, 8, 3, dtype=torch.uint8).numpy()
    packed = PackCaptionInputs()(dict(img=img, gt_label=4, img_path='x.png'))
    assert packed['data_samples'].gt_label.tolist() == [4]
    assert packed['data_samples'].img_path == 'x.png'


@pytest.fixture
def classifier(tiny_cfg):
    cfg = dict(tiny_cfg, type='MaMMUTZeroShotClassifier', classes=['red circle', 'blue square',
                                                                    'green triangle'],
               templates=['a {}', 'two {}s'])
    return MODELS.build(cfg).eval()


def test_scores_are_softmax_of_scaled_cosine_to_the_template_mean(classifier):
    images = torch.randn(3, 3, 32, 32)
    out = classifier.predict(images)
    per_prompt = classifier.encode_text([t.format(c) for c in classifier.classes
                                         for t in ('a {}', 'two {}s')]).view(3, 2, -1)
    class_emb = F.normalize(per_prompt.mean(1), dim=-1)
    scale = classifier.logit_scale.exp()
    want = (scale * classifier.encode_image(images) @ class_emb.t()).softmax(-1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert [s.pred_label.item() for s in out] == want.argmax(-1).tolist()


def test_class_embeddings_follow_weights_and_vocabulary(classifier):
    first = classifier.class_embeddings()
    assert first.shape == (3, 24)
    assert classifier.class_embeddings() is first  # cached
    state = {k: v + 0.01 if k.startswith('text.') else v
             for k, v in classifier.state_dict().items()}
    classifier.load_state_dict(state)
    assert not torch.allclose(classifier.class_embeddings(), first)
    classifier.set_classes('red circle,yellow star')
    assert classifier.class_embeddings().shape == (2, 24)
    with pytest.raises(ValueError, match='vocabulary is empty'):
        classifier.set_classes([])


def test_templates_from_a_file_and_bad_templates(tmp_path):
    path = tmp_path / 'templates.txt'
    path.write_text('a photo of a {}.\n\nart of the {}.\n')
    assert load_templates(str(path)) == ('a photo of a {}.', 'art of the {}.')
    with pytest.raises(ValueError, match=r'template 0 .* exactly one'):
        load_templates(['no slot'])
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        load_templates(str(tmp_path / 'nope.txt'))


@pytest.mark.parametrize('name', ['configs/pretrain/mammut_tiny_toy_zeroshot_cls.py',
                                  'configs/openmammut/openmammut_l14_zeroshot_cls.py'])
def test_zero_shot_configs_build_the_classifier_and_dataset(name):
    cfg = Config.fromfile(os.path.join(ROOT, name))
    assert cfg.model.type == 'MaMMUTZeroShotClassifier'
    assert cfg.test_dataloader.dataset.type == 'ImageClassDataset'
    assert cfg.test_evaluator.type == 'mmaction.AccMetric'
    assert DATASETS.get('ImageClassDataset') is ImageClassDataset
