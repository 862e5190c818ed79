"""tools/infer.py and mammut_det.apis on a tiny randomly initialised MaMMUT detector and a generated
folder of awkward images (nested folders, every extension, grey, RGBA, 16-bit, EXIF-rotated,
truncated, a text file named .png)."""
import importlib.util
import json
import logging
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS
from mmengine.runner import save_checkpoint
from PIL import Image

from mammut_det.apis import CheckpointMismatchError, ImageReadError, OVDetInferencer, as_bgr
from mammut_det.apis.image_io import ALPHA_BACKGROUND, list_images, read_image
from mammut_det.detection import TOY_LVIS_CLASSES

from .conftest import DETECTOR_CONFIG as CONFIG
from .conftest import DETECTOR_SEEN as SEEN
from .conftest import ROOT

#: relative path -> (height, width) of the image as the detector sees it (EXIF applied)
GOOD = {
    'top.png': (100, 150), 'a/upper.JPG': (120, 90), 'a/b/deep.bmp': (80, 80),
    'a/b/pic.webp': (90, 110), 'a/plain.jpeg': (70, 100), 'grey/gray.png': (90, 110),
    'grey/alpha.png': (90, 110), 'grey/sixteen.png': (96, 128), 'photos/rotated.jpg': (140, 60),
}
BAD = {'photos/truncated.jpg': 'truncated', 'photos/notes.png': 'Pillow can identify',
       'photos/line.png': 'the test pipeline failed on it'}  # 1x500 resizes to 0 rows


def _scene(h: int, w: int) -> np.ndarray:
    """BGR image with a red square and a green disc."""
    img = np.full((h, w, 3), 120, np.uint8)
    cv2.rectangle(img, (5, 5), (w // 2, h // 2), (40, 40, 220), -1)
    cv2.circle(img, (3 * w // 4, 3 * h // 4), min(h, w) // 5, (60, 200, 60), -1)
    return img


def _make_images(root: str) -> None:
    for rel in ('a/b', 'grey', 'photos'):
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel in ('top.png', 'a/upper.JPG', 'a/b/deep.bmp', 'a/plain.jpeg'):
        cv2.imwrite(os.path.join(root, rel), _scene(*GOOD[rel]))
    Image.fromarray(_scene(90, 110)[:, :, ::-1]).save(os.path.join(root, 'a/b/pic.webp'))
    Image.fromarray(_scene(90, 110)[:, :, 1]).save(os.path.join(root, 'grey/gray.png'))
    rgba = np.dstack([_scene(90, 110)[:, :, ::-1], np.full((90, 110), 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    Image.fromarray(rgba).save(os.path.join(root, 'grey/alpha.png'))
    Image.fromarray(_scene(96, 128)[:, :, 2].astype(np.uint16) * 257).save(
        os.path.join(root, 'grey/sixteen.png'))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60x140 landscape, shown rotated 90 degrees clockwise
    Image.fromarray(_scene(60, 140)[:, :, ::-1]).save(os.path.join(root, 'photos/rotated.jpg'),
                                                      exif=exif)
    cv2.imwrite(os.path.join(root, 'photos/full.jpg'), _scene(80, 120))
    with open(os.path.join(root, 'photos/full.jpg'), 'rb') as f:
        data = f.read()
    os.remove(os.path.join(root, 'photos/full.jpg'))
    with open(os.path.join(root, 'photos/truncated.jpg'), 'wb') as f:
        f.write(data[:len(data) // 2])
    cv2.imwrite(os.path.join(root, 'photos/line.png'), np.full((1, 500, 3), 90, np.uint8))
    with open(os.path.join(root, 'photos/notes.png'), 'w') as f:
        f.write('not an image\n')
    with open(os.path.join(root, 'README.txt'), 'w') as f:
        f.write('ignored: not an image extension\n')


@pytest.fixture(scope='module')
def env(tiny_detector):
    images = tiny_detector['tmp'] / 'images'
    _make_images(str(images))
    return dict(tiny_detector, images=str(images))


@pytest.fixture(scope='module')
def inferencer(env):
    return OVDetInferencer(CONFIG, env['checkpoint'], device='cpu', cfg_options=env['options'])


@pytest.fixture(scope='module')
def tool():
    path = os.path.join(ROOT, 'tools/infer.py')
    spec = importlib.util.spec_from_file_location('infer_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _subprocess(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/infer.py', *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


# -- the command line -----------------------------------------------------------------------------
@pytest.mark.slow
def test_folder_run_writes_pictures_json_and_summary(env):
    out = env['tmp'] / 'out'
    proc = _subprocess([CONFIG, env['checkpoint'], env['images'], '--out-dir', str(out),
                        '--score-thr', '0', *env['cli_options']])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rel, reason in BAD.items():
        assert f'{rel}: ' in proc.stdout and reason in proc.stdout
        assert f'skipped {rel}' in proc.stderr
    assert f'{len(GOOD)} of {len(GOOD) + len(BAD)} images processed' in proc.stdout

    summary = json.load(open(out / 'summary.json'))
    assert summary['num_images'] == len(GOOD) + len(BAD)
    assert summary['num_processed'] == len(GOOD)
    assert {p['image'] for p in summary['processed']} == set(GOOD)
    assert {s['image']: s['reason'] for s in summary['skipped']}.keys() == BAD.keys()
    for item in summary['skipped']:
        assert BAD[item['image']] in item['reason']
    assert summary['other_files'] == ['README.txt']
    assert summary['vocabulary'] == dict(num_classes=6, classes=list(TOY_LVIS_CLASSES))
    assert summary['vocabulary_source'] == 'checkpoint'
    assert (summary['score_thr'], summary['device'], summary['checkpoint']) == (
        0.0, 'cpu', env['checkpoint'])
    assert summary['timing']['inference_s'] > 0
    assert summary['num_detections'] == sum(p['detections'] for p in summary['processed']) > 0

    for rel, (h, w) in GOOD.items():
        pred = json.load(open(out / 'preds' / f'{rel}.json'))
        assert (pred['image'], pred['height'], pred['width']) == (rel, h, w)
        n = len(pred['scores'])
        assert len(pred['bboxes']) == len(pred['labels']) == len(pred['label_names']) == n
        assert n == next(p['detections'] for p in summary['processed'] if p['image'] == rel)
        assert [TOY_LVIS_CLASSES[i] for i in pred['labels']] == pred['label_names']
        if n:
            boxes = np.array(pred['bboxes'])
            assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all()
            assert (boxes[:, [1, 3]] <= h).all()
            assert (boxes[:, 2:] > boxes[:, :2]).all()
            assert all(0 < s <= 1 for s in pred['scores'])
        drawn = cv2.imread(str(out / 'vis' / rel), cv2.IMREAD_UNCHANGED)
        assert drawn.shape == (h, w, 3), rel
        if n and rel.endswith(('.png', '.bmp')):
            assert not np.array_equal(drawn, read_image(os.path.join(env['images'], rel))), rel
    for rel in BAD:
        assert not (out / 'preds' / f'{rel}.json').exists()


@pytest.mark.slow
def test_wrong_checkpoint_is_one_clear_message(env):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models/mammut_tiny.py'))
    cfg.model.tokenizer.path = env['tokenizer']
    pretrained = str(env['tmp'] / 'mammut_pretrain.pth')
    save_checkpoint(dict(state_dict=MODELS.build(cfg.model).state_dict(), meta={}), pretrained)
    proc = _subprocess([CONFIG, pretrained, env['images'], '--out-dir',
                        str(env['tmp'] / 'never'), *env['cli_options']])
    assert proc.returncode == 2
    err = proc.stderr[proc.stderr.index('infer.py: error:'):]
    assert pretrained in err and 'MaMMUTDetector' in err and 'pretraining checkpoint' in err
    assert 'backbone (' in err and 'visual (' in err
    assert len(err.strip().splitlines()) <= 4 and 'blocks.0' not in err
    assert not (env['tmp'] / 'never').exists()


def test_bad_setups_exit_2_naming_the_problem(env, tool, capsys):
    def run(*args: str) -> str:
        code = tool.main([CONFIG, env['checkpoint'], *args, *env['cli_options']])
        assert code == 2
        return capsys.readouterr().err

    out = ['--out-dir', str(env['tmp'] / 'never')]
    empty = env['tmp'] / 'empty'
    empty.mkdir()
    assert "no images or videos (jpg, jpeg, png, bmp, webp, mp4, avi, mov, mkv, webm, m4v, mpg, " \
           f"mpeg, any case) under folder '{empty}' (it is empty)" in run(str(empty), *out)
    (empty / 'notes.txt').write_text('x')
    assert 'it holds 1 other file' in run(str(empty), *out)
    assert 'neither a file nor a folder' in run(str(env['tmp'] / 'missing'), *out)

    one = os.path.join(env['images'], 'top.png')
    assert '--texts: entry 1 is empty' in run(one, *out, '--texts', 'red square, , cat')
    assert "--texts: class name 'cat' repeats (entries 0 and 2)" in run(
        one, *out, '--texts', 'cat, dog,cat')
    vocab = env['tmp'] / 'vocab.txt'
    vocab.write_text('cat\n\ndog\n')
    assert f'{vocab}:2: empty class name' in run(one, *out, '--vocab', str(vocab))
    vocab.write_text('cat\ndog\ncat\n')
    assert f"{vocab}: class name 'cat' repeats" in run(one, *out, '--vocab', str(vocab))
    assert "is neither \"lvis\" nor an existing file" in run(one, *out, '--vocab', 'nope.txt')

    noise = env['tmp'] / 'random.pth'
    torch.save({'weight': torch.randn(3, 3)}, noise)
    err = tool.main([CONFIG, str(noise), one, *out, *env['cli_options']])
    assert err == 2
    msg = capsys.readouterr().err
    assert str(noise) in msg and 'none of its 1 entries' in msg and 'weight (1)' in msg
    assert not (env['tmp'] / 'never').exists()


def test_nothing_processed_exits_1_and_texts_vocabulary(env, tool, capsys):
    bad = env['tmp'] / 'all_bad'
    bad.mkdir()
    for rel in BAD:
        (bad / os.path.basename(rel)).write_bytes(open(os.path.join(env['images'], rel),
                                                       'rb').read())
    out = env['tmp'] / 'out_bad'
    assert tool.main([CONFIG, env['checkpoint'], str(bad), '--out-dir', str(out),
                      *env['cli_options']]) == 1
    summary = json.load(open(out / 'summary.json'))
    assert (summary['num_processed'], summary['num_skipped']) == (0, len(BAD))
    assert f'0 of {len(BAD)} images processed' in capsys.readouterr().out

    out = env['tmp'] / 'out_texts'
    one = os.path.join(env['images'], 'photos/rotated.jpg')
    assert tool.main([CONFIG, env['checkpoint'], one, '--out-dir', str(out), '--texts',
                      ' cat , red car', '--score-thr', '0', *env['cli_options']]) == 0
    summary = json.load(open(out / 'summary.json'))
    assert summary['vocabulary'] == dict(num_classes=2, classes=['cat', 'red car'])
    assert summary['vocabulary_source'] == '--texts'
    pred = json.load(open(out / 'preds' / 'rotated.jpg.json'))
    assert (pred['height'], pred['width']) == (140, 60)
    assert set(pred['label_names']) <= {'cat', 'red car'} and pred['label_names']


def test_output_folder_inside_the_input_is_not_searched(env, tool):
    folder = env['tmp'] / 'self'
    folder.mkdir()
    (folder / 'one.png').write_bytes(open(os.path.join(env['images'], 'top.png'), 'rb').read())
    for _ in range(2):
        assert tool.main([CONFIG, env['checkpoint'], str(folder), '--out-dir',
                          str(folder / 'results'), '--score-thr', '0', *env['cli_options']]) == 0
        summary = json.load(open(folder / 'results' / 'summary.json'))
        assert summary['num_images'] == 1 and summary['other_files'] == []
    assert (folder / 'results' / 'vis' / 'one.png').is_file()


# -- the Python API -------------------------------------------------------------------------------
def test_vocabulary_switch_keeps_model_and_cached_embeddings(inferencer, env):
    model = inferencer.model
    embedder = model.class_embedder
    image = cv2.imread(os.path.join(env['images'], 'top.png'))
    assert inferencer.vocabulary == TOY_LVIS_CLASSES
    assert model.seen_classes == SEEN
    first = inferencer(image, score_thr=0.0)['predictions'][0]
    assert first['label_names'] and set(first['label_names']) <= set(TOY_LVIS_CLASSES)

    passes = embedder.num_text_passes
    assert inferencer.set_vocabulary(['cat', 'red car', 'tree']) == ('cat', 'red car', 'tree')
    assert embedder.num_text_passes == passes + 1  # 3 classes x 8 templates: one text batch
    other = inferencer(image, score_thr=0.0)['predictions'][0]
    assert other['label_names'] and set(other['label_names']) <= {'cat', 'red car', 'tree'}
    assert max(other['labels']) < 3

    passes = embedder.num_text_passes
    inferencer.set_vocabulary(TOY_LVIS_CLASSES)
    assert embedder.num_text_passes == passes  # cached: no text pass
    assert inferencer.model is model and model.class_embedder is embedder
    again = inferencer(image, score_thr=0.0)['predictions'][0]
    assert again['label_names'] == first['label_names']
    np.testing.assert_allclose(again['scores'], first['scores'], rtol=1e-5)
    np.testing.assert_allclose(again['bboxes'], first['bboxes'], rtol=1e-5, atol=1e-3)

    with pytest.raises(ValueError, match="class name 'cat' repeats"):
        inferencer.set_vocabulary(['cat', 'dog', 'cat'])
    with pytest.raises(ValueError, match='entry 1 is empty'):
        inferencer.set_vocabulary(['cat', '  '])
    assert inferencer.vocabulary == TOY_LVIS_CLASSES


def test_paths_arrays_batches_and_threshold_agree(inferencer, env):
    paths = [os.path.join(env['images'], rel) for rel in ('top.png', 'a/b/deep.bmp')]
    by_path = inferencer(paths, score_thr=0.0)['predictions']
    by_array = inferencer([cv2.imread(p) for p in paths], score_thr=0.0, batch_size=2)
    for a, b in zip(by_path, by_array['predictions']):
        assert a['labels'] == b['labels']
        np.testing.assert_allclose(a['bboxes'], b['bboxes'], rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(a['scores'], b['scores'], rtol=1e-4, atol=1e-6)
    thr = float(np.median(by_path[0]['scores']))
    kept = inferencer(paths[0], score_thr=thr, return_vis=True)
    assert kept['predictions'][0]['scores'] == [s for s in by_path[0]['scores'] if s > thr]
    assert kept['visualization'][0].shape == (100, 150, 3)
    folder = inferencer(os.path.join(env['images'], 'a', 'b'), score_thr=0.0)['predictions']
    assert len(folder) == 2 and folder[0]['scores'] == by_path[1]['scores']
    truncated = os.path.join(env['images'], 'photos/truncated.jpg')
    with pytest.raises(ImageReadError, match='truncated.jpg: cannot read the image'):
        inferencer(truncated, on_error='raise')


def test_api_checkpoint_errors_name_the_file(env, tmp_path):
    garbage = tmp_path / 'garbage.pth'
    garbage.write_text('hello')
    with pytest.raises(CheckpointMismatchError, match=f"'{garbage}': not a PyTorch checkpoint"):
        OVDetInferencer(CONFIG, str(garbage), device='cpu', cfg_options=env['options'])
    ckpt = torch.load(env['checkpoint'], map_location='cpu', weights_only=True)
    state = ckpt['state_dict']
    state['roi_head.bbox_head.fc_reg.weight'] = torch.zeros(4, 32)
    del state['rpn_head.rpn_cls.bias']
    edited = tmp_path / 'edited.pth'
    torch.save(ckpt, edited)
    with pytest.raises(CheckpointMismatchError) as info:
        OVDetInferencer(CONFIG, str(edited), device='cpu', cfg_options=env['options'])
    msg = str(info.value)
    assert str(edited) in msg and '1 of the 95 model tensors are missing, under: rpn_head (1)' \
        in msg
    assert 'roi_head.bbox_head.fc_reg.weight: shape (4, 32) in the checkpoint, (4, 64)' in msg
    with pytest.raises(FileNotFoundError, match='does not exist'):
        OVDetInferencer(CONFIG, str(tmp_path / 'none.pth'), device='cpu')


def test_read_image_converts_modes_and_orientation(env, tmp_path):
    images = env['images']
    grey = read_image(os.path.join(images, 'grey/gray.png'))
    assert grey.shape == (90, 110, 3) and (grey[..., 0] == grey[..., 2]).all()
    np.testing.assert_array_equal(grey[..., 0], _scene(90, 110)[:, :, 1])
    sixteen = read_image(os.path.join(images, 'grey/sixteen.png'))
    np.testing.assert_array_equal(sixteen[..., 1], _scene(96, 128)[:, :, 2])  # 257x -> 1x
    alpha = read_image(os.path.join(images, 'grey/alpha.png'))
    assert tuple(alpha[0, 0]) == ALPHA_BACKGROUND[::-1]
    np.testing.assert_array_equal(alpha[50:, 50:], _scene(90, 110)[50:, 50:])
    # orientation 6: the stored image turned 90 degrees clockwise, so its top-left corner (inside
    # the red square) is now top-right and its bottom-right (grey) now bottom-left
    rotated = read_image(os.path.join(images, 'photos/rotated.jpg'))
    assert rotated.shape == (140, 60, 3)
    assert np.abs(rotated[10, 50].astype(int) - (40, 40, 220)).max() < 30
    assert np.abs(rotated[135, 2].astype(int) - 120).max() < 30
    paths, others = list_images(images)
    assert [os.path.relpath(p, images) for p in paths] == sorted([*GOOD, *BAD])
    assert [os.path.relpath(p, images) for p in others] == ['README.txt']
    bgra = np.dstack([_scene(90, 110), np.full((90, 110), 255, np.uint8)])
    bgra[:10, :10, 3] = 0
    np.testing.assert_array_equal(as_bgr(bgra), alpha)
    np.testing.assert_array_equal(as_bgr(_scene(96, 128)[:, :, 2].astype(np.uint16) * 257),
                                  sixteen)
    with pytest.raises(ImageReadError, match='notes.png: not an image'):
        read_image(os.path.join(images, 'photos/notes.png'))
    with pytest.raises(ImageReadError, match='nothing.png: no such file'):
        read_image(str(tmp_path / 'nothing.png'))


def test_batches_keep_input_order_and_skip_a_corrupt_file(inferencer, env, capfd):
    """7 inputs (paths and an array, one truncated file) in batches of 3: each prediction is the
    one its image gets alone, at its own index; the corrupt one is None and listed."""
    images = env['images']
    rels = ['top.png', 'a/b/deep.bmp', 'photos/truncated.jpg', 'a/upper.JPG', 'grey/gray.png',
            'a/plain.jpeg', 'photos/rotated.jpg']
    inputs = [os.path.join(images, rel) for rel in rels]
    inputs[3] = cv2.imread(inputs[3])  # an array among the paths
    alone = [inferencer(x, score_thr=0.0, on_error='skip')['predictions'][0] for x in inputs]
    assert alone[2] is None
    good = [p for p in alone if p is not None]
    assert all(p['scores'] for p in good)
    assert len({tuple(p['scores'][:3]) for p in good}) == len(good)  # a swap would show
    capfd.readouterr()

    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        out = inferencer(inputs, score_thr=0.0, batch_size=3, return_vis=True)
    finally:
        logger.removeHandler(handler)
    assert len(out['predictions']) == len(out['visualization']) == 7
    assert out['predictions'][2] is None and out['visualization'][2] is None
    assert out['skipped'] == [dict(index=2, input=inputs[2],
                                   reason=out['skipped'][0]['reason'])]
    assert 'cannot read the image' in out['skipped'][0]['reason']
    for i, (got, want) in enumerate(zip(out['predictions'], alone)):
        if want is None:
            continue
        assert got['labels'] == want['labels'], i
        np.testing.assert_allclose(got['scores'], want['scores'], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got['bboxes'], want['bboxes'], rtol=1e-4, atol=1e-2)
        h, w = read_image(os.path.join(images, rels[i])).shape[:2]
        assert out['visualization'][i].shape == (h, w, 3)
    err = capfd.readouterr().err
    assert 'Inference' in err and '7/7' in err  # the progress bar counts inputs
    assert [m for m in logged if m.startswith(f'skipped {inputs[2]}: cannot read the image')]
    with pytest.raises(ImageReadError, match='truncated.jpg: cannot read the image'):
        inferencer(inputs, batch_size=3, on_error='raise')
    with pytest.raises(ValueError, match='on_error must be one of'):
        inferencer(inputs, on_error='ignore')
