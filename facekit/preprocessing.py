"""The single input normalisation used by training, evaluation and both demos."""
import tensorflow as tf

# VGGFace2 channel means in BGR order (keras-vggface's preprocess_input, version=2).
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)


def preprocess_input(images):
    """RGB images, uint8 or float, (N,H,W,3) or (H,W,3) -> float32 BGR minus the VGGFace2 means.

    Accepts NumPy arrays (returns NumPy) and tensors (returns a tensor, for tf.data).
    """
    x = tf.cast(images, tf.float32)  # cast first: in uint8, 10 - 91 would wrap around
    x = x[..., ::-1] - tf.constant(VGGFACE2_MEAN_BGR, tf.float32)
    return x if tf.is_tensor(images) else x.numpy()
