"""A ``.keras`` model to ``.tflite`` or ``.onnx``, checked against Keras on real faces; int8 quantisation."""
