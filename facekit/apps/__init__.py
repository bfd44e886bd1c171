"""The commands' work: shared options and one-line errors, console scripts, the photo and video demos' loops, the web
service and its page (``static/``). No TensorFlow."""
