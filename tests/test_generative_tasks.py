"""The generative task configs and their data paths: every preset is consistent (prompt, target,
tokenizer, packed fields, metric), the 224 px pipelines read the toy sets in the released
layouts, and the generator runs on clips with tubes or frames only."""
from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, TRANSFORMS, init_default_scope
from mmengine.structures import BaseDataElement

from mammut_det.generation import TokenizePrompted, prompted_row
from mammut_det.text import BPETokenizer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASK_DIRS = ('captioning', 'vqa', 'videoqa', 'video_captioning')
CONFIGS = sorted(p for d in TASK_DIRS for p in glob.glob(osp.join(ROOT, 'configs', d, '*.py')))
CONFIGS += [osp.join(ROOT, 'configs', 'openmammut', n)
            for n in ('openmammut_l14_vqav2.py', 'openmammut_l14_coco-karpathy.py')]
#: what each metric reads from the samples besides the prediction
METRIC_FIELDS = {'VQAAccuracy': ('pred_answer', {'question_id', 'gt_answers', 'answer_type',
                                                 'question_type'}),
                 'VideoQAAccuracy': ('pred_answer', {'gt_answers', 'question'}),
                 'CaptionMetric': ('pred_caption', {'gt_captions'})}


def test_the_task_configs_exist():
    names = {osp.relpath(p, osp.join(ROOT, 'configs')) for p in CONFIGS}
    for want in ('captioning/mammut-b16_coco-karpathy.py', 'vqa/mammut-b16_vqav2.py',
                 'videoqa/mammut-b16_tube_msrvtt-qa.py', 'videoqa/mammut-b16_tube_msvd-qa.py',
                 'video_captioning/mammut-b16_tube_msrvtt-caption.py',
                 'video_captioning/mammut-b16_tube_msvd-caption.py',
                 'openmammut/openmammut_l14_vqav2.py',
                 'openmammut/openmammut_l14_coco-karpathy.py'):
        assert want in names
    assert sum('tiny' in n for n in names) >= 5


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_is_consistent(path):
    cfg = Config.fromfile(path)
    model = cfg.model
    assert model.type == 'MaMMUTGenerator' and cfg.train_cfg.type and cfg.optim_wrapper
    assert model.tokenizer.context_length == model.text.context_length
    video = model.vision.type == 'MaMMUTTubeViT'
    assert (model.data_preprocessor.type == 'ActionDataPreprocessor') == video
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        tokenize = [t for t in pipeline if t['type'] == 'TokenizePrompted']
        for t in tokenize:  # the data workers tokenise exactly as the model would
            assert t['prompt'] == model.prompt and t['target_key'] == model.target_key
            assert t.get('max_prompt_tokens') == model.get('max_prompt_tokens')
            assert {k: v for k, v in t['tokenizer'].items() if k != 'path'} == \
                {k: v for k, v in model.tokenizer.items() if k != 'path'}
        pack = pipeline[-1]
        assert pack['type'] == ('PackActionInputs' if video else 'PackCaptionInputs')
        fields = set(pack['meta_keys']) | set(pack.get('algorithm_keys', ()))
        if tokenize:
            assert 'prompt_length' in fields
            assert video == ('text_tokens' in pack.get('algorithm_keys', ()))
        pred, needed = METRIC_FIELDS[cfg.val_evaluator.type]
        assert model.pred_key == pred
        assert needed <= fields | {'video_id', 'img_id'}, (loader, needed - fields)


def test_tokenize_prompted_transform_matches_the_model_layout(tokenizer_path):
    tok = BPETokenizer(tokenizer_path, context_length=16)
    t = TRANSFORMS.build(dict(type='TokenizePrompted', tokenizer=tok, prompt='q: {question}',
                              target_key='answer'))
    out = t(dict(question='a red circle', answer='two stars', img_path='x.png'))
    row, n = prompted_row(tok, 'q: a red circle', 'two stars')
    assert out['text_tokens'].tolist() == row and out['prompt_length'] == n
    test_split = t(dict(question='a red circle', img_path='x.png'))  # no answer: the prefix
    assert test_split['text_tokens'].tolist() == row[:n]
    with pytest.raises(KeyError, match=r"x\.png.*question"):
        t(dict(caption='a red circle', img_path='x.png'))
    assert isinstance(t, TokenizePrompted)


@pytest.fixture(scope='module')
def toy_sets(tmp_path_factory):
    from mammut_det.captioning import make_toy_karpathy, make_toy_video_captions
    from mammut_det.vqa import make_toy_videoqa, make_toy_vqa
    root = tmp_path_factory.mktemp('toy_generative')
    return dict(
        vqa=make_toy_vqa(str(root / 'vqa'), num_train=4, num_val=4),
        karpathy=make_toy_karpathy(str(root / 'karpathy'), num_train=3, num_val=2, num_test=2),
        videoqa=make_toy_videoqa(str(root / 'videoqa'), num_train=2, num_val=2),
        video_captions=make_toy_video_captions(str(root / 'vcap'), num_train=2, num_val=2))


def first_sample(cfg: Config, dataset: dict) -> dict:
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    return DATASETS.build(dataset)[0]


def test_the_224px_image_pipelines_read_the_released_layouts(toy_sets):
    vqa = Config.fromfile(osp.join(ROOT, 'configs/vqa/mammut-b16_vqav2.py'))
    v = toy_sets['vqa']['val']
    sample = first_sample(vqa, dict(
        vqa.val_dataloader.dataset, data_root='', ann_file=v['questions'],
        answer_file=v['annotations'], img_pattern='toy_val_{image_id:012d}.png',
        data_prefix=dict(img_path=v['images'])))
    ds = sample['data_samples']
    assert sample['inputs'].shape == (3, 224, 224)
    from mammut_det.text import CLIPTokenizer
    clip = CLIPTokenizer(context_length=77)
    assert ds.text_tokens.tolist() == prompted_row(clip, ds.question, ds.answer)[0]
    assert ds.prompt_length == 1 + len(clip.encode_batch([ds.question])[0])
    assert len(ds.gt_answers) == 10 and ds.answer_type and ds.question_type

    cap = Config.fromfile(osp.join(ROOT, 'configs/captioning/mammut-b16_coco-karpathy.py'))
    sample = first_sample(cap, dict(cap.test_dataloader.dataset, data_root='',
                                    ann_file=toy_sets['karpathy'],
                                    data_prefix=dict(img_path=osp.dirname(toy_sets['karpathy']))))
    ds = sample['data_samples']
    assert len(ds.gt_captions) == 5 and ds.img_id is not None
    assert ds.text_tokens.tolist()[:ds.prompt_length] == prompted_row(clip, 'a photo of', None)[0]


def test_the_224px_video_pipelines_read_the_released_layouts(toy_sets):
    from mammut_det.text import CLIPTokenizer
    clip = CLIPTokenizer(context_length=77)
    qa = Config.fromfile(osp.join(ROOT, 'configs/videoqa/mammut-b16_tube_msrvtt-qa.py'))
    sample = first_sample(qa, dict(qa.val_dataloader.dataset, ann_file=toy_sets['videoqa']['val'],
                                   data_prefix=dict(video=toy_sets['videoqa']['videos']),
                                   video_pattern='{}.mp4'))
    ds = sample['data_samples']
    assert sample['inputs'].shape == (1, 3, 32, 224, 224)
    assert ds.text_tokens.tolist() == prompted_row(clip, ds.question, ds.answer)[0]
    assert ds.gt_answers == [ds.answer] and ds.video_id

    cap = Config.fromfile(osp.join(ROOT,
                                   'configs/video_captioning/mammut-b16_tube_msrvtt-caption.py'))
    sample = first_sample(cap, dict(
        cap.val_dataloader.dataset, ann_file=toy_sets['video_captions'],
        data_prefix=dict(video=osp.join(osp.dirname(toy_sets['video_captions']), 'videos'))))
    ds = sample['data_samples']
    assert len(ds.gt_captions) == 5 and ds.prompt_length == 1


@pytest.fixture
def video_generator(tokenizer_path):
    def build(use_tubes: bool):
        init_default_scope('mmaction')
        torch.manual_seed(0)
        return MODELS.build(dict(
            type='MaMMUTGenerator', prompt='{question}', target_key='answer',
            pred_key='pred_answer', generation=dict(max_new_tokens=3),
            vision=dict(type='MaMMUTTubeViT', clip_len=16, img_size=32, patch_size=8, width=32,
                        depth=2, num_heads=2, embed_dim=24, use_tubes=use_tubes),
            text=dict(type='TextDecoder', vocab_size=300, context_length=16, width=32, depth=2,
                      num_heads=2, embed_dim=24),
            tokenizer=dict(type='BPETokenizer', path=tokenizer_path, context_length=16),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'))).eval()
    return build


def question_samples(n: int) -> list[BaseDataElement]:
    return [BaseDataElement(metainfo=dict(question='a red circle', answer='two stars'))
            for _ in range(n)]


def test_video_generator_trains_and_answers_on_clips(video_generator):
    model = video_generator(True)
    clips = torch.randn(2, 1, 3, 16, 32, 32)  # [B, views, C, T, H, W] from the preprocessor
    loss = model.loss(clips, question_samples(2))['loss_caption']
    loss.backward()
    assert model.visual.tube_convs[0].weight.grad.abs().sum() > 0
    assert all(isinstance(s.pred_answer, str) for s in model.predict(clips, question_samples(2)))
    # two views of a clip: the decoder attends to both views' tokens
    assert model.visual_tokens(torch.randn(1, 2, 3, 16, 32, 32)).shape[1] == \
        2 * model.visual.num_tokens((16, 32, 32))['total']


def test_frames_only_clip_tokens_do_not_know_the_frame_order(video_generator):
    """Without tubes the decoder sees each sampled frame's own tokens side by side: swapping
    the two sampled frames (4 and 12 of 16) gives the same set of tokens, hence the same
    answers' logits; with tubes (and the frames' time code) the order matters."""
    clip = torch.randn(1, 3, 16, 32, 32)
    swapped = clip.clone()
    swapped[:, :, 4], swapped[:, :, 12] = clip[:, :, 12], clip[:, :, 4]
    frames = video_generator(False)
    a, b = frames.visual.clip_tokens(clip), frames.visual.clip_tokens(swapped)
    n = a.shape[1] // 2
    torch.testing.assert_close(a[:, :n], b[:, n:])
    torch.testing.assert_close(a[:, n:], b[:, :n])
    tubes = video_generator(True)
    reversed_clip = clip.flip(2)
    with torch.no_grad():
        tubes.visual.pos_gate.fill_(1.0)
        diff = tubes.visual.clip_tokens(clip) - tubes.visual.clip_tokens(reversed_clip)
    assert diff.abs().max() > 1e-3
