"""Detect less in video (facekit/vision/region_search.py): on synthetic clips of the repository's faces, a face that
moves is followed by searching around it, one that enters late appears within FULL_EVERY frames, one that leaves
costs one full search; the faces found are the whole-frame search's."""
import numpy as np
import pytest

from facekit.vision.detectors import create_detector
from facekit.vision.region_search import RegionSearch
from facekit.vision.tracking import box_iou
from tests.face_scenes import compose

SIZE = (480, 640)


class Counting:
    """A detector that counts the pixels it searched: the whole frame's, or a region's."""

    def __init__(self, detector):
        self.detector, self.searched = detector, []

    def detect(self, image):
        self.searched.append(image.shape[0] * image.shape[1])
        return self.detector.detect(image)


@pytest.fixture(scope="module")
def yunet():
    return create_detector("yunet")


def clip(frames, placements_of):
    """Frames of ``placements_of(frame)`` ((index, x, y, side) faces), with the boxes placed."""
    return [compose(SIZE, placements_of(frame)) for frame in range(frames)]


def test_a_moving_face_is_followed_in_its_region_and_the_whole_frame_only_every_n(yunet):
    frames = clip(24, lambda f: [(0, 60 + 8 * f, 100 + 2 * f, 150)])
    counting = Counting(yunet)
    search = RegionSearch(counting, full_every=8)
    for image, boxes in frames:
        faces = search.detect(image)
        assert len(faces) == 1 and box_iou(faces[0].box, boxes[0]) > 0.6
        # The region's face is the whole frame's: its landmarks (what the crop is made of) within 8 % of the face's
        # size. YuNet's own landmarks move that much with the resolution it is given: the same frame's region
        # searched at full resolution differs from the whole frame's by up to 10 pixels on this 150-pixel face.
        whole = yunet.detect(image)[0]
        assert box_iou(faces[0].box, whole.box) > 0.8
        assert np.abs(faces[0].landmarks - whole.landmarks).max() <= 0.08 * whole.box[3]
    assert search.full_searches == 3  # frames 0, 8 and 16
    regions = [pixels for pixels in counting.searched if pixels < SIZE[0] * SIZE[1]]
    assert len(regions) == 21 and max(regions) < 0.25 * SIZE[0] * SIZE[1]


def test_a_face_that_enters_late_appears_within_full_every_frames_and_one_that_leaves_costs_one_search(yunet):
    def placements(frame):
        faces = [(0, 60, 120, 150)] if frame < 14 else []  # leaves after frame 13
        return faces + ([(2, 400, 150, 140)] if frame >= 3 else [])  # enters at frame 3

    search = RegionSearch(yunet, full_every=5)
    seen = []
    for image, boxes in clip(20, placements):
        seen.append((len(search.detect(image)), len(boxes)))
    counts = [found for found, _ in seen]
    assert counts[:3] == [1, 1, 1] and counts[5:14] == [2] * 9  # the newcomer found at the full search of frame 5
    assert counts[14:] == [1] * 6  # the one that left: its region is empty, a full search at once finds the other
    assert search.full_searches == 5  # frames 0, 5 and 10; 14 (a face lost); 19 (the fifth after it)


def test_full_every_1_searches_every_frame_whole_and_bad_settings_are_refused(yunet):
    search = RegionSearch(yunet, full_every=1)
    for image, _ in clip(3, lambda f: [(1, 100, 100, 160)]):
        search.detect(image)
    assert search.full_searches == 3
    with pytest.raises(ValueError):
        RegionSearch(yunet, full_every=0)
