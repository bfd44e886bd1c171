"""The bottom layer, imported by every other: the error type, the project's folders, where outputs go, label names and
age bins, optional extras. No TensorFlow; imports nothing else of facekit."""
