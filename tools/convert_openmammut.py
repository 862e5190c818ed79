"""Convert the public openMaMMUT checkpoint into a mammut_det checkpoint.

    python tools/convert_openmammut.py SRC DST [--config CFG] [--vocab PATH] [--check]

SRC: the fork's weights (``open_clip_pytorch_model.bin``, ``.pt``, ``.safetensors``; a
``{'state_dict': ...}`` wrapper and ``module.`` prefixes are accepted). DST gets
``{'state_dict': ..., 'meta': ...}``, which MMEngine's ``load_from`` and
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` load into the model of CFG (default
``configs/openmammut/openmammut_l14.py``). Every key and shape is checked against that model.
``--check`` then loads DST into a real model and prints zero-shot logits of a few prompts for a
generated image (a red disc on white) and a greedy caption.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import load_checkpoint

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mammut_det  # noqa: E402  (registers every module)
from mammut_det.models import openmammut  # noqa: E402

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                          'configs', 'openmammut', 'openmammut_l14.py')
PROMPTS = ('a photo of a red circle.', 'a photo of a blue square.', 'a photo of a dog.',
           'a photo of a cat.', 'a diagram of a red disc on a white background.')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert openMaMMUT weights for mammut_det')
    parser.add_argument('src', help='openMaMMUT checkpoint (.bin, .pt, .pth, .safetensors)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config to convert for')
    parser.add_argument('--vocab', help='CLIP vocabulary file (bpe_simple_vocab_16e6.txt.gz); '
                                        'default: the one in an installed open_clip_torch')
    parser.add_argument('--check', action='store_true',
                        help='load the result and print zero-shot logits for a test image')
    parser.add_argument('--prompts', nargs='+', default=list(PROMPTS),
                        help='prompts for --check')
    return parser.parse_args(argv)


def model_config(config: str, vocab: str | None) -> Config:
    cfg = Config.fromfile(config)
    if vocab is not None:
        cfg.model.tokenizer.path = vocab
    return cfg.model


def convert(src: str, dst: str, model_cfg: Config) -> dict:
    """Convert SRC against the model built (on the meta device) from ``model_cfg``; save DST."""
    with torch.device('meta'):
        target = MODELS.build(model_cfg)
    state_dict = openmammut.convert_openmammut_state_dict(
        openmammut.load_openmammut_checkpoint(src), target=target)
    meta = dict(converted_from=osp.basename(src), source='openMaMMUT (LAION-AI/open_clip_mammut)',
                mammut_det_version=mammut_det.__version__,
                num_params=sum(v.numel() for v in state_dict.values()))
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), dst)
    return meta


def test_image(size: int) -> np.ndarray:
    """A red disc on a white background, uint8 [size, size, 3] in BGR order."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    img[disc] = (40, 40, 220)
    return img


@torch.no_grad()
def check(dst: str, model_cfg: Config, prompts: list[str]) -> torch.Tensor:
    """Load DST as MMEngine does and print the zero-shot logits [1, len(prompts)]."""
    model = MODELS.build(model_cfg)
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    model.eval()
    size = model.visual.grid[0] * model.visual.patch_size
    img = torch.from_numpy(test_image(size)).permute(2, 0, 1)
    inputs = model.data_preprocessor(dict(inputs=[img]), training=False)['inputs']
    logits = model.contrastive_logits(model.encode_image(inputs), model.encode_text(prompts))
    probs = logits.softmax(dim=-1)
    print(f'temperature 1/{model.logit_scale.exp().item():.2f}; a red disc on white:')
    for prompt, logit, prob in zip(prompts, logits[0].tolist(), probs[0].tolist()):
        print(f'  {logit:8.3f}  p={prob:.3f}  {prompt}')
    print(f'greedy caption: {model.generate(inputs, max_new_tokens=20)[0]!r}')
    return logits


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model_cfg = model_config(args.config, args.vocab)
    meta = convert(args.src, args.dst, model_cfg)
    print(f'wrote {args.dst}: {meta["num_params"] / 1e6:.1f}M parameters')
    if args.check:
        check(args.dst, model_cfg, args.prompts)


if __name__ == '__main__':
    main()
