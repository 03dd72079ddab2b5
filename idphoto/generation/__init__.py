"""Generation of labelled ID photos from a trained generator (`idphoto generate`).

`presets` loads the ID-photo sizes, `framing` fits a generated square to one, `labelling` writes
files marked as AI-generated, `model_source` resolves MLflow model URIs and `generate` ties them
together. Only `model_source` and `generate` need MLflow and TensorFlow.
"""
