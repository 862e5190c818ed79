"""What an experiment is run with: the variants (how the detector and the VQA model are
initialised, and the pretraining ablations), the VLM-score settings compared on detector (a), the
video arms, the claims the ablation report tests, and the profiles (the world and VQA set drawn
and the schedules' configs)."""
from __future__ import annotations

from dataclasses import dataclass

from .world import WorldSettings
from .world_vqa import VQASettings

CONFIG_DIR = 'configs/experiment'
#: environment variable through which the configs find the experiment folder
ENV_VAR = 'MAMMUT_EXPERIMENT'


def seed_suffix(seed: int) -> str:
    """What a stage name, work dir and checkpoint of ``seed`` end with: nothing for seed 0 (the
    main job's names, so that ``--seeds`` reuses its stages), ``.seed<k>`` otherwise."""
    return '' if seed == 0 else f'.seed{seed}'


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: how the detector and the VQA model are initialised."""

    key: str
    label: str
    source: str  # where the fine-tuned weights come from, for the stage titles
    pretrain: str | None  # pretraining config name (without folder and suffix), None: random
    detection: bool = True  # also an arm of the detection ablation (else VQA and captions only)
    vqa: bool = True  # VQA fine-tuned from it
    #: ``--cfg-options`` of its pretraining run only (a schedule or loss setting)
    options: tuple[str, ...] = ()
    #: ``--cfg-options`` of the model in its pretraining run and every fine-tuning from it (an
    #: architecture setting; paths under ``model.``)
    model_options: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        """The label's first word: ``(a)``, ``(x2)``."""
        return self.label.split(' ', 1)[0]


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
TWO_PASS = 'mammut-tiny_two-pass_shapes-world'
#: the paper's and RO-ViT's design choices, each one change to the two-pass run (a)
#: (``tools/run_experiment.py --ablations``)
ABLATION_VARIANTS = (
    Variant('no-cpe', '(e) no cropped positional embedding', 'the two-pass checkpoint without CPE',
            TWO_PASS, vqa=False, options=('custom_hooks.0.cpe_begin=None',)),
    Variant('infonce', '(f) softmax InfoNCE', 'the two-pass checkpoint with InfoNCE', TWO_PASS,
            vqa=False, options=('model.contrastive_loss=infonce',)),
    Variant('weights-2-1', '(g) loss weights 2:1', 'the two-pass checkpoint with weights 2:1',
            TWO_PASS, detection=False, options=('custom_hooks.0.weights.contrastive=2.0',)),
    Variant('weights-1-2', '(h) loss weights 1:2', 'the two-pass checkpoint with weights 1:2',
            TWO_PASS, detection=False, options=('custom_hooks.0.weights.generative=2.0',)),
    *(Variant(f'xattn-{n}', f'(x{n}) 4-layer decoder, {n} cross-attention block'
              + 's' * (n > 1), f'the two-pass checkpoint with {n} cross-attention block(s)',
              TWO_PASS, detection=False,
              model_options=('model.text.depth=4', f'model.text.cross_attn_every={4 // n}'))
      for n in (1, 2, 4)),
)
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
class VideoArm:
    """Tubes or frames only: the moving-dot recognizer, then VideoQA from its encoder."""

    key: str
    label: str
    use_tubes: bool


VIDEO_ARMS = (VideoArm('tubes', 'sparse tubes + frames', True),
              VideoArm('frames', 'frames only', False))
VIDEO_CONFIG = 'mammut-tiny_tube_moving-dots'
VIDEOQA_CONFIG = 'mammut-tiny_tube_moving-dots-videoqa'


@dataclass(frozen=True)
class VideoSettings:
    """The moving-dot clips of the video arms (recognition and VideoQA sets, drawn once)."""

    num_train: int = 256
    num_val: int = 64
    seed: int = 0

    def to_dict(self) -> dict:
        return dict(num_train=self.num_train, num_val=self.num_val, seed=self.seed)


@dataclass(frozen=True)
class Claim:
    """One row of the ablation table: ``arm`` minus ``base`` on ``metric`` (a key of the
    per-seed numbers), which ``source`` says is ``sign`` (+1 higher, -1 lower)."""

    group: str
    metric: str
    arm: str
    base: str
    sign: int
    source: str


def _claims() -> tuple[Claim, ...]:
    ro_vit, mammut, fvlm = 'RO-ViT', 'MaMMUT (Kuo et al. 2023)', 'F-VLM'
    r1, vqa = 'retrieval R@1', 'toy VQA accuracy'
    return (
        Claim('pretraining (a) vs (b), (c)', 'APr', 'two-pass', 'contrastive', 1, mammut),
        Claim('pretraining (a) vs (b), (c)', 'APr', 'two-pass', 'random', 1, mammut),
        Claim('pretraining (a) vs (b), (d)', vqa, 'two-pass', 'contrastive', 1, mammut),
        Claim('pretraining (a) vs (b), (d)', vqa, 'two-pass', 'generative', 1, mammut),
        Claim('cropped positional embedding', 'APr', 'two-pass', 'no-cpe', 1, ro_vit),
        Claim('focal contrastive loss', 'APr', 'two-pass', 'infonce', 1, ro_vit),
        Claim('cross-attention blocks', vqa, 'xattn-4', 'xattn-1', 1, mammut),
        Claim('cross-attention blocks', vqa, 'xattn-2', 'xattn-1', 1, mammut),
        Claim('cross-attention blocks', r1, 'xattn-1', 'xattn-4', 1, mammut),
        Claim('cross-attention blocks', r1, 'xattn-2', 'xattn-4', 1, mammut),
        Claim('loss weights', r1, 'weights-2-1', 'two-pass', 1, mammut),
        Claim('loss weights', vqa, 'weights-2-1', 'two-pass', -1, mammut),
        Claim('loss weights', vqa, 'weights-1-2', 'two-pass', 1, mammut),
        Claim('loss weights', r1, 'weights-1-2', 'two-pass', -1, mammut),
        Claim('tubes vs frames', 'video top-1', 'tubes', 'frames', 1, mammut),
        Claim('tubes vs frames', 'VideoQA accuracy', 'tubes', 'frames', 1, mammut),
        Claim('VLM score source', 'APr', 'vlm-pretrained', 'vlm-backbone', 1, fvlm),
        Claim('VLM score source', 'APr', 'vlm-frozen', 'vlm-backbone', 1, fvlm),
    )


#: what ``--ablations`` reports, each claim tested on the paired per-seed differences
CLAIMS = _claims()
#: CPU seconds a stage of each kind (its name up to ``_``) took, the median over the stages of
#: that kind in ``tools/run_experiment.py --ablations`` and ``--quick --ablations --seeds 2`` on a
#: 2-core x86 CPU machine (Nov 2026, one torch thread), for the time printed before a run; a stage
#: that ran in the same folder before is expected to take what it took then
NOMINAL_CPU_SECONDS = {
    'default': {'world': 6, 'crops': 1, 'vqa_data': 2, 'video_data': 1, 'pretrain': 182,
                'zeroshot': 6, 'detector': 60, 'test': 10, 'infer': 5, 'vqa': 34,
                'test-vqa': 6, 'captions': 6, 'video': 18, 'videoqa': 34, 'report': 2},
    'quick': {'world': 3, 'crops': 1, 'vqa_data': 1, 'video_data': 1, 'pretrain': 8,
              'zeroshot': 5, 'detector': 9, 'test': 7, 'infer': 5, 'vqa': 7, 'test-vqa': 5,
              'captions': 5, 'video': 6, 'videoqa': 7, 'report': 1},
}


@dataclass(frozen=True)
class Profile:
    """A setting of the experiment: the world drawn and the config suffix of the schedules."""

    name: str
    world: WorldSettings
    vqa: VQASettings
    config_suffix: str
    video: VideoSettings
    score_thr: float
    grid_images: int
    num_captions: int  # held-out images whose greedy captions the report lists

    def config(self, name: str) -> str:
        return f'{CONFIG_DIR}/{name}{self.config_suffix}.py'


PROFILES = {
    'default': Profile('default', WorldSettings(), VQASettings(), '', VideoSettings(),
                       score_thr=0.3,
                       grid_images=6, num_captions=8),
    'quick': Profile('quick', WorldSettings(num_pretrain=400, num_pretrain_val=50,
                                            num_det_train=40, num_det_val=12, num_infer=3),
                     VQASettings(num_train=100, num_val=30), '_quick',
                     VideoSettings(num_train=32, num_val=16), score_thr=0.2,
                     grid_images=3, num_captions=3),
}
