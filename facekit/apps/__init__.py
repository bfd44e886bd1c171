"""The commands' work: shared options and one-line errors, console scripts, the photo and video demos' loops, the web
service and its page (``static/``). No TensorFlow.

The commands import this layer first, so it sets ``TF_CPP_MIN_LOG_LEVEL=2`` (unless it is set already) before
anything loads TensorFlow: its C++ start-up chatter (CPU features) would drown the scripts' own output. The two
oneDNN lines still appear: TensorFlow 2.21 logs them through absl. ``import facekit`` alone sets nothing."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
