"""The miniature open-vocabulary experiment: a generated world of coloured shapes, the stages
that pretrain, fine-tune, evaluate and run inference with the real tools, and the report."""
from .experiment import Experiment
from .pipeline import Pipeline, Stage, StageFailed, shell_line
from .settings import PROFILES, VARIANTS, Profile, Variant
from .world import WorldClass, WorldSettings, class_weights, draw_scene, grid_classes, world_classes
from .world_files import is_complete, make_world

__all__ = ['PROFILES', 'VARIANTS', 'Experiment', 'Pipeline', 'Profile', 'Stage', 'StageFailed',
           'Variant', 'WorldClass', 'WorldSettings', 'class_weights', 'draw_scene', 'grid_classes',
           'is_complete', 'make_world', 'shell_line', 'world_classes']
