"""Training (TensorFlow): the tf.data input, fitting, the frozen-backbone fast path, strategies and precision, several
workers, run folders, Adience's protocol, submission files. Scoring a saved model needs none of it:
facekit.infer.scoring."""
