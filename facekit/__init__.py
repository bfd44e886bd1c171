"""Shared logic behind face.py, face_train.py, face_demo.py and face_video_demo.py."""
