"""Text generation shared by every generative task: greedy and beam search with a key/value cache
(:mod:`.search`, :mod:`.steppers`), the prompt + target token layout (:mod:`.prompts`), and
``MaMMUTGenerator``, the model that fine-tunes and evaluates MaMMUT's generative pass.

Importing it registers ``MaMMUTGenerator`` (MODELS) and ``TokenizePrompted`` (TRANSFORMS) in
MMEngine's root registries.
"""
from .generator import MaMMUTGenerator
from .prompts import format_prompt, prompted_row, target_mask
from .search import (
    GenerationConfig,
    GenerationOutput,
    beam_search,
    generate,
    generate_text,
    greedy_search,
)
from .steppers import CachedStepper, FullStepper, KVCache
from .transforms import TokenizePrompted

__all__ = ['CachedStepper', 'FullStepper', 'GenerationConfig', 'GenerationOutput', 'KVCache',
           'MaMMUTGenerator', 'TokenizePrompted', 'beam_search', 'format_prompt', 'generate',
           'generate_text', 'greedy_search', 'prompted_row', 'target_mask']
