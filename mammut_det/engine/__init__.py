"""Training-time pieces: the two-pass schedule hook, the shard stream hook, the retrieval metric,
checked loading of checkpoint parts, and the tokenizer stored in checkpoints."""
from .retrieval_metric import RetrievalMetric
from .shard_stream_hook import ShardStreamHook
from .tokenizer_meta import TokenizerMetaHook, restore_tokenizers
from .two_pass_hook import TwoPassScheduleHook

__all__ = ['RetrievalMetric', 'ShardStreamHook', 'TokenizerMetaHook', 'TwoPassScheduleHook',
           'restore_tokenizers']
