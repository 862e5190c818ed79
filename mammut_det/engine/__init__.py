"""Training-time pieces: the two-pass schedule hook and the retrieval metric."""
from .retrieval_metric import RetrievalMetric
from .two_pass_hook import TwoPassScheduleHook

__all__ = ['RetrievalMetric', 'TwoPassScheduleHook']
