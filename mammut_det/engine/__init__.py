"""Training-time pieces: the two-pass schedule hook, the shard stream hook, the retrieval metric."""
from .retrieval_metric import RetrievalMetric
from .shard_stream_hook import ShardStreamHook
from .two_pass_hook import TwoPassScheduleHook

__all__ = ['RetrievalMetric', 'ShardStreamHook', 'TwoPassScheduleHook']
