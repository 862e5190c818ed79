"""Training-time pieces: the two-pass schedule hook, the shard stream hook, the retrieval metric,
the global-batch train loop, mixed precision and what hooks need to know about strategies."""
from .global_batch import GlobalBatchTrainLoop
from .precision import AutocastOptimWrapper
from .retrieval_metric import RetrievalMetric
from .shard_stream_hook import ShardStreamHook
from .strategies import unwrap_model, writable_parameters, zero_to_state_dict
from .two_pass_hook import TwoPassScheduleHook

__all__ = ['AutocastOptimWrapper', 'GlobalBatchTrainLoop', 'RetrievalMetric', 'ShardStreamHook',
           'TwoPassScheduleHook', 'unwrap_model', 'writable_parameters', 'zero_to_state_dict']
