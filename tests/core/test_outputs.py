"""facekit/core/outputs.py: outputs compared with inputs as files, folders checked without leaving any behind, and
atomic writes that leave nothing half-written under the final name."""
import os
import stat
import threading
import time

import pytest

from facekit.core import outputs
from facekit.core.errors import FaceKitError
from facekit.core.outputs import special_file, write_text


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
    real_open = open

    def fills_the_disk(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        real_write = f.write

        def write(data):
            real_write(data[:3])
            raise OSError(28, "No space left on device")
        f.write = write
        return f

    monkeypatch.setattr(outputs, "open", fills_the_disk, raising=False)
    with pytest.raises(FaceKitError, match=f"cannot write {target}: No space left on device"):
        outputs.write_text(target, "new and longer")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    outputs.write_text(target, "new")
    assert target.read_text() == "new"


def test_a_short_write_that_raises_nothing_is_an_error(tmp_path, monkeypatch):
    real_open = open

    def silently_short(file, mode="r", *args, **kwargs):  # what Pillow 13's save does on a nearly full disk
        f = real_open(file, mode, *args, **kwargs)
        real_write = f.write
        f.write = lambda data: real_write(data[:5])
        return f

    monkeypatch.setattr(outputs, "open", silently_short, raising=False)
    with pytest.raises(FaceKitError, match="5 of 14 bytes written"):
        outputs.write_text(tmp_path / "a.json", "new and longer")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_name_is_nobody_elses_file(tmp_path):
    """It was STEM.partial.EXT, replaced without a look: an input or an unrelated file of that name was lost."""
    theirs = tmp_path / "faces.partial.json"
    theirs.write_text("someone's file")
    with outputs.replacing(tmp_path / "faces.json") as partial:
        assert partial.parent == tmp_path and partial.name.endswith(".partial.json") and partial != theirs
        assert partial.is_file()  # made here, so that no other file can take the name
        partial.write_text("[]")
    assert theirs.read_text() == "someone's file" and (tmp_path / "faces.json").read_text() == "[]"
    with pytest.raises(RuntimeError), outputs.replacing(tmp_path / "best.weights.h5") as partial:
        assert partial.name.endswith(".partial.weights.h5")  # the suffixes Keras requires
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.json", "faces.partial.json"]


def test_a_replaced_file_has_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        outputs.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_a_link_stays_a_link_and_its_file_is_replaced(tmp_path):
    """--overwrite renamed over a symbolic link, which became a regular file (issue 28)."""
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new" and link.read_text() == "new"


def test_a_fifo_is_written_into_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    time.sleep(0.2)  # the reader opens the FIFO first
    write_text(fifo, '{"faces": []}')
    reader.join(10)
    assert received == [b'{"faces": []}'] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_one_line_and_is_kept(tmp_path):
    """A FIFO output without a reader was deleted (the video demo) or blocked for ever (issue 28)."""
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    with pytest.raises(FaceKitError, match="nothing reads the FIFO"):
        write_text(fifo, "{}")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert special_file(fifo) and special_file("/dev/null") and not special_file(tmp_path)
