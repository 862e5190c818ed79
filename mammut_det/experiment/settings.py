"""What an experiment is run with: the ablation's variants (how the detector and the VQA model are
initialised), the VLM-score settings compared on detector (a), and the profiles (the world and
VQA set drawn and the schedules' configs)."""
from __future__ import annotations

from dataclasses import dataclass

from .world import WorldSettings
from .world_vqa import VQASettings

CONFIG_DIR = 'configs/experiment'
#: environment variable through which the configs find the experiment folder
ENV_VAR = 'MAMMUT_EXPERIMENT'


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: how the detector and the VQA model are initialised."""

    key: str
    label: str
    source: str  # where the fine-tuned weights come from, for the stage titles
    pretrain: str | None  # pretraining config name (without folder and suffix), None: random
    detection: bool = True  # also an arm of the detection ablation (else VQA and captions only)


VARIANTS = (
    Variant('two-pass', '(a) two-pass MaMMUT', 'the two-pass MaMMUT checkpoint',
            'mammut-tiny_two-pass_shapes-world'),
    Variant('contrastive', '(b) contrastive only', 'the contrastive-only checkpoint',
            'mammut-tiny_contrastive_shapes-world'),
    Variant('random', '(c) random initialisation', 'random weights', None),
    Variant('generative', '(d) generative only', 'the generative-only checkpoint',
            'mammut-tiny_generative_shapes-world', detection=False),
)
DETECTION_VARIANTS = tuple(v for v in VARIANTS if v.detection)
#: the pretrained models whose greedy captions of held-out images the report shows
CAPTION_VARIANTS = ('two-pass', 'generative')
VQA_CONFIG = 'mammut-tiny_vqa_shapes-world'


@dataclass(frozen=True)
class VlmSetting:
    """Where detector (a)'s test-time VLM score pools its region features from."""

    key: str
    label: str
    source: str  # model.vlm_score.source
    frozen_backbone: bool  # F-VLM: the backbone frozen in every block (a training run of its own)


VLM_SETTINGS = (
    VlmSetting('pretrained', '(i) frozen copy of the pretrained tower', 'pretrained', False),
    VlmSetting('backbone', '(ii) fine-tuned backbone', 'backbone', False),
    VlmSetting('frozen', "(iii) F-VLM's frozen backbone", 'pretrained', True),
)
#: the variant whose detector the VLM settings are compared on
VLM_VARIANT = 'two-pass'
DETECTOR_CONFIG = 'mammut-tiny_ovd_shapes-world'
ZERO_SHOT_CONFIG = f'{CONFIG_DIR}/mammut-tiny_zeroshot-cls_shapes-world.py'
#: margin around a box when it is cropped for zero-shot classification, as a fraction of its side
CROP_MARGIN = 0.15


@dataclass(frozen=True)
class Profile:
    """A setting of the experiment: the world drawn and the config suffix of the schedules."""

    name: str
    world: WorldSettings
    vqa: VQASettings
    config_suffix: str
    score_thr: float
    grid_images: int
    num_captions: int  # held-out images whose greedy captions the report lists

    def config(self, name: str) -> str:
        return f'{CONFIG_DIR}/{name}{self.config_suffix}.py'


PROFILES = {
    'default': Profile('default', WorldSettings(), VQASettings(), '', score_thr=0.3,
                       grid_images=6, num_captions=8),
    'quick': Profile('quick', WorldSettings(num_pretrain=400, num_pretrain_val=50,
                                            num_det_train=40, num_det_val=12, num_infer=3),
                     VQASettings(num_train=100, num_val=30), '_quick', score_thr=0.2,
                     grid_images=3, num_captions=3),
}
