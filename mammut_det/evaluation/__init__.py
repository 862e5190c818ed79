"""Evaluation helpers: converting dumped detections to the LVIS result format."""
from .lvis_results import load_lvis_records, predictions_to_lvis

__all__ = ['load_lvis_records', 'predictions_to_lvis']
