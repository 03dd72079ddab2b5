"""Training: the distributed trainer, its input pipeline, evaluation, callbacks and session."""
