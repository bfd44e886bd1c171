"""Training and evaluation (TensorFlow): the tf.data input, fitting, the frozen-backbone fast path, strategies and
precision, several workers, run folders, protocols, metrics, submission files."""
