"""Predictions from face crops: ``load_predictor`` for ``.keras`` / ``.tflite`` / ``.onnx`` files, ensembles, test-time
augmentation, the output schema, and ``FaceAnalyzer`` (detect, crop, predict). No TensorFlow: a ``.keras`` model alone
loads it, when opened."""
