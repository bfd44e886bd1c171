"""facekit/core/outputs.py: outputs compared with inputs as files, folders checked without leaving any behind, and
atomic writes that leave nothing half-written under the final name."""
import os

import pytest

from facekit.core import outputs
from facekit.core.errors import FaceKitError


def test_an_input_is_recognised_through_hard_and_symbolic_links(tmp_path):
    photo = tmp_path / "in.jpg"
    photo.write_bytes(b"photo")
    os.link(photo, tmp_path / "hard.jpg")
    (tmp_path / "soft.jpg").symlink_to(photo)
    for alias in ("hard.jpg", "soft.jpg", "in.jpg"):
        with pytest.raises(FaceKitError, match=f"--output {tmp_path / alias} is the input {photo}"):
            outputs.check_output(tmp_path / alias, "--output", [photo], overwrite=True)
    outputs.check_output(tmp_path / "new.jpg", "--output", [photo])  # a new name is fine


def test_a_folder_check_leaves_no_folder_behind(tmp_path):
    outputs.check_folder(tmp_path / "a" / "b", "--output")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(FaceKitError, match=r"cannot write to the folder .*file/sub \(--json\): Not a directory"):
        outputs.check_folder(tmp_path / "file" / "sub", "--json")


def test_a_write_that_fails_halfway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    real_write = type(target).write_text

    def fills_the_disk(path, text, *args, **kwargs):
        real_write(path, text[:3], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(target), "write_text", fills_the_disk)
    with pytest.raises(FaceKitError, match=f"cannot write {target}: No space left on device"):
        outputs.write_text(target, "new and longer")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    outputs.write_text(target, "new")
    assert target.read_text() == "new"
