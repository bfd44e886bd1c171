"""Shared logic behind face.py, face_train.py, face_demo.py and face_video_demo.py."""
import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) drowns the scripts' own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
