"""The miniature open-vocabulary experiment: a generated world of coloured shapes, the pipeline
that pretrains, fine-tunes, evaluates and runs inference with the real tools, and its report."""
from .world import WorldClass, WorldSettings, draw_scene, is_complete, make_world, world_classes

__all__ = ['WorldClass', 'WorldSettings', 'draw_scene', 'is_complete', 'make_world',
           'world_classes']
