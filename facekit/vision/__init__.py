"""Images in, faces out: reading and writing images, the face detectors and their registry, crops, drawing, tracking
faces across video frames; ``models/`` holds YuNet's model file (package data). No TensorFlow."""
