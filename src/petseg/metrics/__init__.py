"""Evaluation metrics (autoPET, lesion detection, ranking). Knows nothing of torch."""
