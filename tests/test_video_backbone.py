"""MaMMUTTubeViT: tube geometry and token counts, the gate, gradients, image-checkpoint loading."""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import MODELS

from mammut_det.engine.checkpoint import CheckpointKeyError
from mammut_det.models import MaMMUTViT
from mammut_det.video import DEFAULT_TUBES, MaMMUTTubeViT, TubeSpec, scale_tubes
from mammut_det.video.tubes import sincos_pos_embed_3d

TINY = dict(img_size=32, patch_size=8, width=32, depth=2, num_heads=2, embed_dim=24)


def tokens_by_formula(clip, kernel, stride, offset) -> int:
    n = 1
    for length, k, s, o in zip(clip, kernel, stride, offset):
        n *= (length - o - k) // s + 1
    return n


def test_default_tube_token_counts_for_32_frames_224():
    clip = (32, 224, 224)
    expected = [tokens_by_formula(clip, t.kernel, t.stride, t.offset) for t in DEFAULT_TUBES]
    # (32-8)//16+1=2 x 7 x 7; (32-4-16)//6+1=3 x 7 x 7; 2 x 7 x 7; 1 x 14 x 14
    assert expected == [98, 147, 98, 196]
    model = MaMMUTTubeViT(clip_len=32, img_size=224, patch_size=16, width=48, depth=1,
                          num_heads=2, embed_dim=16)
    assert model.tubes == DEFAULT_TUBES
    counts = model.num_tokens(clip)
    assert [counts[f'tube{i}'] for i in range(4)] == expected
    assert counts['frames'] == 2 * 14 * 14  # frames 8 and 24
    assert model.frame_indices(32) == [8, 24]
    assert counts['total'] == 392 + 539
    with torch.no_grad():
        tokens = model.forward_tokens(torch.randn(1, 3, *clip))
    assert tokens.shape == (1, 931, 48)


def test_scaled_tubes_follow_the_rule_and_the_formula():
    tubes = scale_tubes(DEFAULT_TUBES, clip_len=16, patch_size=8)
    assert tubes == (TubeSpec((4, 4, 4), (8, 16, 16), (0, 0, 0)),
                     TubeSpec((8, 2, 2), (3, 16, 16), (2, 4, 4)),
                     TubeSpec((2, 6, 6), (8, 16, 16), (0, 8, 8)),
                     TubeSpec((1, 8, 8), (16, 8, 8), (0, 0, 0)))
    clip = (16, 32, 32)
    model = MaMMUTTubeViT(clip_len=16, class_token=True, **TINY)
    counts = model.num_tokens(clip)
    for i, t in enumerate(tubes):
        assert counts[f'tube{i}'] == tokens_by_formula(clip, t.kernel, t.stride, t.offset)
    assert counts['frames'] == 2 * (16 + 1)  # CLS + 4x4 patches, frames 4 and 12
    with torch.no_grad():
        assert model.forward_tokens(torch.randn(2, 3, *clip)).shape == (2, counts['total'], 32)
    # an 8-frame clip: temporal kernels shrink and still fit
    short = scale_tubes(DEFAULT_TUBES, clip_len=8, patch_size=16)
    assert [t.kernel[0] for t in short] == [2, 4, 1, 1]
    assert all(t.num_tokens((8, 224, 224)) >= 1 for t in short)


def test_tube_that_does_not_fit_is_rejected():
    with pytest.raises(ValueError, match='does not fit'):
        MaMMUTTubeViT(clip_len=16, tubes=[dict(kernel=(20, 8, 8), stride=(1, 8, 8))], **TINY)
    with pytest.raises(ValueError, match='3 entries'):
        TubeSpec(kernel=(8, 8), stride=(1, 1, 1))


def test_centres_and_sincos():
    spec = TubeSpec((4, 8, 8), (8, 16, 16), (0, 8, 8))
    centres = spec.centres((16, 32, 32))
    assert centres.shape == (2 * 2 * 2, 3)
    assert centres[0].tolist() == [2.0, 12.0, 12.0]
    assert centres[-1].tolist() == [10.0, 28.0, 28.0]
    emb = sincos_pos_embed_3d(centres, 32)
    assert emb.shape == (8, 32)
    assert torch.all(emb[:, 30:] == 0)  # 32 = 3 axes x (5 sines + 5 cosines) + 2 padding
    # t = 2 at the first frequency (1): sin(2), cos(2); y = 12 at the last (10000 ** -0.8)
    assert emb[0, 0] == pytest.approx(torch.tensor(2.0).sin().item(), abs=1e-6)
    assert emb[0, 5] == pytest.approx(torch.tensor(2.0).cos().item(), abs=1e-6)
    assert emb[0, 14] == pytest.approx(torch.tensor(12 * 10000 ** -0.8).sin().item(), abs=1e-6)
    assert not torch.allclose(emb[0], emb[1])


def _image_and_video(class_token: bool, tubes=()):
    image = MaMMUTViT(class_token=class_token, **TINY).eval()
    video = MaMMUTTubeViT(clip_len=16, tubes=tubes, class_token=class_token, **TINY).eval()
    state = {f'visual.{k}': v for k, v in image.state_dict().items()}
    video.load_image_checkpoint({'state_dict': state})
    return image, video


@pytest.mark.parametrize('class_token', [False, True])
def test_gate_at_init_keeps_the_image_output_on_a_repeated_frame(class_token):
    image, video = _image_and_video(class_token)
    frame = torch.randn(3, 3, 32, 32)
    clip = frame[:, :, None].expand(-1, -1, 16, -1, -1).contiguous()
    assert video.pos_gate.item() == 0.0
    with torch.no_grad():
        img_feat, _ = image(frame)
        vid_feat = video(clip)
        assert torch.allclose(vid_feat, img_feat, atol=1e-5)
        video.use_tubes = False  # the frames-only ablation is the image model averaged
        assert torch.allclose(video(clip), img_feat, atol=1e-5)
        video.use_tubes = True
        video.pos_gate.fill_(0.5)  # an open gate adds the 3D position code
        assert (video(clip) - img_feat).abs().max() > 1e-2


def test_inflated_image_kernel_tube_reproduces_patch_tokens_on_a_static_clip():
    image, video = _image_and_video(False, tubes=[dict(kernel=(1, 8, 8), stride=(16, 8, 8)),
                                                  dict(kernel=(4, 8, 8), stride=(8, 8, 8))])
    frame = torch.randn(1, 3, 32, 32)
    clip = frame[:, :, None].expand(-1, -1, 16, -1, -1)
    with torch.no_grad():
        patches, _ = image.patch_embed(frame)
        patches = patches + image.grid_pos_embed()
        tubes = video._tube_tokens(clip)
    # gate 0: each tube token is the patch token at its place (the kernel spread over 4 frames)
    assert torch.allclose(tubes[:, :16], patches, atol=1e-5)
    assert torch.allclose(tubes[:, 16:32], patches, atol=1e-5)
    assert torch.allclose(tubes[:, 32:], patches, atol=1e-5)


def test_gradient_reaches_tube_kernels_and_gate():
    video = MaMMUTTubeViT(clip_len=16, **TINY)
    video(torch.randn(2, 3, 16, 32, 32)).pow(2).sum().backward()
    for conv in video.tube_convs:
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert video.pos_gate.grad is not None and video.pos_gate.grad.abs() > 0
    assert video.conv1.weight.grad.abs().sum() > 0


def test_mammut_checkpoint_loads_with_a_report(tiny_cfg, tmp_path):
    mammut = MODELS.build(tiny_cfg)
    path = str(tmp_path / 'mammut.pth')
    torch.save({'state_dict': mammut.state_dict(), 'meta': {}}, path)
    vision = {k: v for k, v in tiny_cfg['vision'].items() if k != 'type'}
    video = MaMMUTTubeViT(clip_len=16, **vision)
    report = video.load_image_checkpoint(path)
    assert set(report.new) == {'pos_gate'} | {f'tube_convs.{i}.{p}' for i in range(4)
                                              for p in ('weight', 'bias')}
    assert report.new == video.video_only_keys
    assert report.missing == [] and report.unexpected == [] and report.inflated
    assert len(report.loaded) == len(mammut.visual.state_dict())
    for key, value in mammut.visual.state_dict().items():
        assert torch.equal(video.state_dict()[key], value), key
    text = str(report)
    assert 'new parameters, not in the checkpoint' in text and 'tube_convs.0.weight' in text
    assert path in text and 'tube kernels inflated' in text

    # built from a config with `pretrained`, the same weights arrive at construction
    built = MaMMUTTubeViT(clip_len=16, pretrained=path, **vision)
    assert torch.equal(built.blocks[1].mlp.c_fc.weight, mammut.visual.blocks[1].mlp.c_fc.weight)


def test_checkpoint_problems_are_reported_by_key(tmp_path):
    image = MaMMUTViT(img_size=64, patch_size=8, width=32, depth=2, num_heads=2, embed_dim=24)
    state = {f'visual.{k}': v for k, v in image.state_dict().items()}
    state['visual.extra.weight'] = torch.zeros(3)
    video = MaMMUTTubeViT(clip_len=16, **TINY)
    with pytest.raises(CheckpointKeyError, match=r'unexpected .*\(1\): extra.weight'):
        video.load_image_checkpoint(dict(state))
    report = video.load_image_checkpoint(dict(state), strict=False)
    assert report.unexpected == ['extra.weight'] and report.missing == []
    assert report.resized == ['positional_embedding']  # 8x8 grid resampled to 4x4
    with pytest.raises(KeyError, match="no key of <state dict> starts with 'image.'"):
        video.load_image_checkpoint(dict(state), prefix='image.')
    del state['visual.extra.weight'], state['visual.blocks.1.ln_2.weight']
    with pytest.raises(CheckpointKeyError, match=r'missing keys.*\(1\): blocks.1.ln_2.weight'):
        video.load_image_checkpoint(dict(state))
    state = {f'visual.{k}': v for k, v in image.state_dict().items()}
    state['visual.proj'] = torch.zeros(32, 7)
    with pytest.raises(CheckpointKeyError, match=r'visual.proj has shape \(32, 7\)'):
        video.load_image_checkpoint(state)
