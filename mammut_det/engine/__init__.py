"""Training-time pieces: the two-pass schedule hook, the shard stream hook, the retrieval metric,
the global-batch train loop, mixed precision, what hooks need to know about strategies, checked
loading of checkpoint parts, and the tokenizer stored in checkpoints."""
from .global_batch import GlobalBatchTrainLoop
from .precision import AutocastOptimWrapper
from .retrieval_metric import RetrievalMetric
from .shard_stream_hook import ShardStreamHook
from .strategies import unwrap_model, writable_parameters, zero_to_state_dict
from .tokenizer_meta import TokenizerMetaHook, restore_tokenizers
from .two_pass_hook import TwoPassScheduleHook

__all__ = ['AutocastOptimWrapper', 'GlobalBatchTrainLoop', 'RetrievalMetric', 'ShardStreamHook',
           'TokenizerMetaHook', 'TwoPassScheduleHook', 'restore_tokenizers', 'unwrap_model',
           'writable_parameters', 'zero_to_state_dict']
