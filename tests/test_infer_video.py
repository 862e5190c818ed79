"""Video files in tools/infer.py and mammut_det.apis: detections on every n-th frame, an
annotated mp4 and one JSON of per-frame boxes, on mp4/avi files written with OpenCV, a corrupt
file and one that breaks part-way, with the tiny randomly initialised detector."""
import importlib.util
import json
import os

import cv2
import decord
import numpy as np
import pytest

from mammut_det.apis import (
    OVDetInferencer,
    VideoFrames,
    VideoReadError,
    infer_video,
    list_inputs,
    video_output_paths,
)
from mammut_det.video.toy import write_mp4

from .conftest import ROOT

FPS = 10.0


def _clip(num_frames: int, h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """[T, h, w, 3] BGR frames: a red square moving right, a green disc moving down."""
    rng = np.random.default_rng(seed)
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for t in range(num_frames):
        frame = np.full((h, w, 3), 110, np.uint8) + rng.integers(0, 6, (h, w, 3), np.uint8)
        cv2.rectangle(frame, (4 + 5 * t, 8), (34 + 5 * t, 38), (40, 40, 220), -1)
        cv2.circle(frame, (90, 20 + 4 * t), 14, (60, 200, 60), -1)
        frames[t] = frame
    return frames


def _partly_corrupt(path: str) -> None:
    """A clip of noise frames (so that every frame has many bytes) whose middle bytes are
    overwritten: the container opens, decoding fails at a frame part-way."""
    frames = np.random.default_rng(1).integers(0, 256, (30, 96, 128, 3), np.uint8)
    write_mp4(path, frames, fps=FPS)
    data = bytearray(open(path, 'rb').read())
    start = len(data) // 2
    data[start:start + 20000] = np.random.default_rng(2).integers(0, 256, 20000,
                                                                   np.uint8).tobytes()
    open(path, 'wb').write(bytes(data))


def _write_avi(path: str, frames: np.ndarray) -> None:
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), FPS, frames.shape[2:0:-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


@pytest.fixture(scope='module')
def videos(tiny_detector):
    root = tiny_detector['tmp'] / 'videos'
    (root / 'sub').mkdir(parents=True)
    with open(root / 'a_broken.mp4', 'wb') as f:
        f.write(b'this is not a video\n' * 40)
    write_mp4(str(root / 'b_clip.mp4'), _clip(12), fps=FPS)
    _partly_corrupt(str(root / 'c_partial.mp4'))
    _write_avi(str(root / 'sub' / 'd_clip.AVI'), _clip(7, seed=3))
    cv2.imwrite(str(root / 'still.png'), _clip(1)[0])
    return root


@pytest.fixture(scope='module')
def inferencer(tiny_detector):
    return OVDetInferencer(tiny_detector['config'], tiny_detector['checkpoint'], device='cpu',
                           cfg_options=tiny_detector['options'], show_progress=False)


def _decoded(path: str) -> list[np.ndarray]:
    """Every frame of ``path`` as BGR, decoded here with decord."""
    reader = decord.VideoReader(path)
    return [reader[i].asnumpy()[:, :, ::-1].copy() for i in range(len(reader))]


def test_listing_splits_images_and_videos(videos):
    images, found, others = list_inputs(str(videos))
    assert [os.path.relpath(p, videos) for p in images] == ['still.png']
    assert [os.path.relpath(p, videos) for p in found] == [
        'a_broken.mp4', 'b_clip.mp4', 'c_partial.mp4', 'sub/d_clip.AVI']
    assert others == []
    assert video_output_paths('out', 'sub/d_clip.AVI') == ('out/vis/sub/d_clip.AVI.mp4',
                                                           'out/preds/sub/d_clip.AVI.json')
    assert video_output_paths('out', 'b.mp4')[0] == 'out/vis/b.mp4'


def test_video_frames_with_stride_and_bad_files(videos, tmp_path):
    frames = VideoFrames(str(videos / 'b_clip.mp4'), stride=5)
    assert (frames.num_frames, frames.fps, frames.width, frames.height) == (12, FPS, 128, 96)
    got = list(frames)
    assert len(frames) == len(got) == 3 and frames.error is None
    assert [frames.frame_index(k) for k in range(3)] == [0, 5, 10]
    want = _decoded(str(videos / 'b_clip.mp4'))  # decord: the same pixels as FFmpeg in OpenCV
    for k, frame in enumerate(got):
        np.testing.assert_array_equal(frame, want[5 * k])
    # BGR: the square's colour was written as (40, 40, 220)
    assert abs(int(got[0][20, 15, 2]) - 220) < 30 and abs(int(got[0][20, 15, 0]) - 40) < 30
    with pytest.raises(VideoReadError, match=r'a_broken\.mp4: cannot open the video'):
        VideoFrames(str(videos / 'a_broken.mp4'))
    with pytest.raises(VideoReadError, match=r'gone\.mp4: no such file'):
        VideoFrames(str(tmp_path / 'gone.mp4'))
    (tmp_path / 'empty.mp4').write_bytes(b'')
    with pytest.raises(VideoReadError, match=r'empty\.mp4: cannot open the video'):
        VideoFrames(str(tmp_path / 'empty.mp4'))
    partial = VideoFrames(str(videos / 'c_partial.mp4'))
    read = list(partial)
    assert 0 < len(read) < partial.num_frames == 30
    assert partial.error == f'cannot decode frame {len(read)} of the 30 it holds'
    assert len(list(partial)) == len(read)  # the same place every time


def test_infer_video_runs_the_encoder_once_per_frame(inferencer, videos, tmp_path):
    """Stride 3 over 12 frames in batches of 2: frames 0, 3, 6, 9, each detected once by the
    image encoder, no text pass (the vocabulary's embeddings are cached), boxes equal to those
    of the frame given alone as an image."""
    model = inferencer.model
    inferencer.set_vocabulary(['red square', 'green circle', 'cat'])
    passes = model.class_embedder.num_text_passes
    encoded = []
    hook = model.backbone.register_forward_hook(lambda m, args, out: encoded.append(
        args[0].shape[0]))
    seen = []
    try:
        vis, preds = str(tmp_path / 'b.mp4'), str(tmp_path / 'b.json')
        info = infer_video(inferencer, str(videos / 'b_clip.mp4'), vis, preds, score_thr=0.0,
                           batch_size=2, frame_stride=3, name='b_clip.mp4',
                           on_frame=lambda done, total: seen.append((done, total)))
    finally:
        hook.remove()
    assert encoded == [2, 2]  # 4 frames in 2 batches: the image encoder once per frame
    assert model.class_embedder.num_text_passes == passes
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    out = json.load(open(preds))
    assert info == dict(video='b_clip.mp4', frames=4,
                        detections=sum(len(f['scores']) for f in out['frames']))
    assert {k: out[k] for k in ('video', 'width', 'height', 'fps', 'num_frames', 'frame_stride',
                                'complete', 'error')} == dict(
        video='b_clip.mp4', width=128, height=96, fps=FPS, num_frames=12, frame_stride=3,
        complete=True, error=None)
    assert [f['frame'] for f in out['frames']] == [0, 3, 6, 9]
    assert [f['time_s'] for f in out['frames']] == [0.0, 0.3, 0.6, 0.9]
    frames = _decoded(str(videos / 'b_clip.mp4'))
    for record in out['frames']:
        alone = inferencer(frames[record['frame']], score_thr=0.0)['predictions'][0]
        assert record['label_names'] == alone['label_names']
        assert set(record['label_names']) <= {'red square', 'green circle', 'cat'}
        np.testing.assert_allclose(record['scores'], alone['scores'], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(record['bboxes'], alone['bboxes'], rtol=1e-4, atol=1e-2)

    drawn = cv2.VideoCapture(vis)
    assert drawn.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS / 3, rel=1e-3)  # mp4 time base
    pictures = []
    while True:
        ok, picture = drawn.read()
        if not ok:
            break
        pictures.append(picture)
    assert len(pictures) == 4 and pictures[0].shape == (96, 128, 3)
    for picture, record in zip(pictures, out['frames']):
        plain = frames[record['frame']]
        # mp4v is lossy: a drawn box and label change far more than the codec does
        diff = np.abs(picture.astype(int) - plain.astype(int)).max(axis=2)
        assert (diff > 100).sum() > 50
    inferencer.set_vocabulary(['red square', 'green circle', 'cat'])
    assert model.class_embedder.num_text_passes == passes


def test_a_video_broken_part_way_keeps_the_frames_before(inferencer, videos, tmp_path):
    vis, preds = str(tmp_path / 'c.mp4'), str(tmp_path / 'c.json')
    with pytest.raises(VideoReadError) as info:
        infer_video(inferencer, str(videos / 'c_partial.mp4'), vis, preds, score_thr=0.0,
                    batch_size=4)
    done = info.value.frames_done
    assert 0 < done < 30
    assert f'c_partial.mp4: cannot decode frame {done} of the 30' in str(info.value)
    assert f'the {done} frames detected before it are saved' in str(info.value)
    out = json.load(open(preds))
    assert out['complete'] is False and out['error'].startswith(f'cannot decode frame {done} ')
    assert [f['frame'] for f in out['frames']] == list(range(done))
    drawn = cv2.VideoCapture(vis)
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == done


def test_tool_on_a_folder_of_videos_and_an_image(tiny_detector, videos, tmp_path, capsys):
    path = os.path.join(ROOT, 'tools/infer.py')
    spec = importlib.util.spec_from_file_location('infer_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'out'
    code = tool.main([tiny_detector['config'], tiny_detector['checkpoint'], str(videos),
                      '--out-dir', str(out), '--frame-stride', '2', '--batch-size', '3',
                      '--texts', 'red square, green circle', '--score-thr', '0',
                      *tiny_detector['cli_options']])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    summary = json.load(open(out / 'summary.json'))
    assert (summary['num_images'], summary['num_processed']) == (1, 1)
    assert (summary['num_videos'], summary['num_videos_processed'],
            summary['num_videos_skipped']) == (4, 2, 2)
    assert summary['frame_stride'] == 2
    assert [v['video'] for v in summary['processed_videos']] == ['b_clip.mp4', 'sub/d_clip.AVI']
    assert [v['frames'] for v in summary['processed_videos']] == [6, 4]
    broken, partial = summary['skipped_videos']
    assert broken['video'] == 'a_broken.mp4' and broken['frames_saved'] == 0
    assert broken['reason'].startswith('cannot open the video')
    assert partial['video'] == 'c_partial.mp4' and 0 < partial['frames_saved'] < 15
    assert summary['num_frames'] == 10 + partial['frames_saved']
    # the broken file came first; everything after it was still done, and failures are listed
    assert (out / 'vis' / 'b_clip.mp4').is_file() and (out / 'vis' / 'still.png').is_file()
    assert (out / 'vis' / 'sub' / 'd_clip.AVI.mp4').is_file()
    assert not (out / 'preds' / 'a_broken.mp4.json').exists()
    avi = json.load(open(out / 'preds' / 'sub' / 'd_clip.AVI.json'))
    assert [f['frame'] for f in avi['frames']] == [0, 2, 4, 6] and avi['complete']
    tail = printed.out[printed.out.index('2 skipped:'):]
    assert 'a_broken.mp4: cannot open the video' in tail
    assert 'c_partial.mp4: cannot decode frame' in tail
    assert '1 of 1 images and 2 of 4 videos (' in printed.out
    assert 'skipped a_broken.mp4' in printed.err
