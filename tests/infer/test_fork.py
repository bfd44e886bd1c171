"""os.fork() while another thread is inside FaceAnalyzer.analyze: the child's analyze must not wait for ever on the
lock it inherited held (issue 28, item 8)."""
import os
import threading
import time

import numpy as np
import pytest

from facekit.infer.analyzer import FaceAnalyzer
from facekit.vision.detectors import DETECTORS, DetectorSpec


class SlowDetector:
    """Finds no face; the first call blocks until released, holding the analyzer's lock meanwhile."""

    spec = DetectorSpec("slow", object, False, DETECTORS["haar"].crop)

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def detect(self, image):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(30)
        return []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_child_forked_while_another_thread_analyzes_can_analyze(tiny_model_file):
    detector = SlowDetector()
    analyzer = FaceAnalyzer(tiny_model_file, detector)
    image = np.full((40, 40, 3), 128, np.uint8)
    busy = threading.Thread(target=analyzer.analyze, args=(image,))
    busy.start()
    assert detector.entered.wait(10)  # the other thread is inside analyze, holding the lock
    child = os.fork()
    if child == 0:  # the child: analyze answers (no face), and the child exits 0; a held lock would hang it
        try:
            os._exit(0 if analyzer.analyze(image) == [] else 1)
        finally:
            os._exit(1)
    deadline, status = time.monotonic() + 20, None
    while status is None and time.monotonic() < deadline:
        done, code = os.waitpid(child, os.WNOHANG)
        status = code if done else None
        time.sleep(0.05)
    if status is None:
        os.kill(child, 9)
        os.waitpid(child, 0)
    detector.release.set()
    busy.join(10)
    assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the child's analyze hung"
