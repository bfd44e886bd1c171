"""A photo library with face_demo.py: --jsonl (a line per photo, flushed), --resume after kill -9 (each photo
exactly once), --no-annotate, --workers N (the same results as one process), the progress bar, and output checks in
linear time. Real faces without ../shared: the README photo and variants of it."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facekit.apps.library import JsonLines, read_done
from facekit.apps.photos import check_outputs
from facekit.core.errors import FaceKitError
from facekit.core.outputs import InputFiles
from facekit.vision.images import read_image, write_image
from tests.face_scenes import README_PHOTO

PROJECT = Path(__file__).resolve().parents[2]


def library(folder, copies):
    """``copies`` photos of three kinds (the README photo, mirrored, and at half size), named so that their kind is
    the name's first letter: photos of one kind must get the same faces."""
    folder.mkdir(parents=True, exist_ok=True)
    image = read_image(README_PHOTO)
    kinds = {"a": image, "b": image[:, ::-1].copy(), "c": image[::2, ::2].copy()}
    for index in range(copies):
        kind = "abc"[index % 3]
        write_image(folder / f"{kind}{index:03d}.jpg", kinds[kind])
    return folder


def demo(*argv, **kwargs):
    return subprocess.Popen([sys.executable, "face_demo.py", *map(str, argv)], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finished(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out, err


def lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def faces_by_kind(entries):
    """{kind: the faces of its photos}: one list per kind when every photo of a kind got the same faces."""
    kinds = {}
    for entry in entries:
        faces = json.dumps(entry["faces"], sort_keys=True)
        kinds.setdefault(Path(entry["image"]).name[0], set()).add(faces)
    return kinds


@pytest.mark.slow
def test_resume_after_kill_9_does_each_photo_exactly_once(tmp_path):
    photos = library(tmp_path / "photos", 24)
    jsonl, out = tmp_path / "faces.jsonl", tmp_path / "out"
    first = demo(photos, "--jsonl", jsonl, "--output", out)
    deadline = time.monotonic() + 300
    while (not jsonl.exists() or jsonl.read_text().count("\n") < 4) and first.poll() is None:
        assert time.monotonic() < deadline, "no results in 300 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    kept = jsonl.read_text().count("\n")
    assert 4 <= kept < 24, kept
    with open(jsonl, "a") as cut:  # a line cut by the kill, half written
        cut.write('{"image": "' + str(photos / "c023.jpg") + '", "faces": [{"box"')
    out_text, err = finished(demo(photos, "--jsonl", jsonl, "--output", out, "--resume"))
    assert f"resuming: {kept} of 24 photos are in {jsonl} already" in out_text
    entries = lines(jsonl)  # every line whole JSON: the cut one is gone
    assert sorted(Path(entry["image"]).name for entry in entries) == sorted(p.name for p in photos.iterdir())
    assert all(len(faces) == 1 for faces in faces_by_kind(entries).values())
    assert len(lines(jsonl)) == 24 and len(list(out.iterdir())) == 24
    assert "photo/s" in err  # the progress bar: photos per second and the time left
    again, _ = finished(demo(photos, "--jsonl", jsonl, "--output", out, "--resume"))
    assert "resuming: 24 of 24" in again and len(lines(jsonl)) == 24


@pytest.mark.slow
def test_workers_give_the_results_of_one_process(tmp_path):
    photos = library(tmp_path / "photos", 6)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    finished(demo(photos, "--jsonl", one, "--no-annotate", "--json", tmp_path / "one.json"))
    finished(demo(photos, "--jsonl", two, "--no-annotate", "--workers", "2", "--json", tmp_path / "two.json"))
    by_image = [sorted(lines(path), key=lambda entry: entry["image"]) for path in (one, two)]
    assert by_image[0] == by_image[1] and len(by_image[0]) == 6 and "output" not in by_image[0][0]
    assert json.loads((tmp_path / "one.json").read_text()) == json.loads((tmp_path / "two.json").read_text())
    assert [len(faces) for faces in faces_by_kind(by_image[0]).values()] == [1, 1, 1]
    assert len(by_image[0][0]["faces"]) == 3


def test_read_done_keeps_whole_lines_and_drops_a_cut_one(tmp_path):
    path = tmp_path / "r.jsonl"
    assert read_done(path) == ({}, 0)
    writer = JsonLines(path)
    writer.write({"image": "a.jpg", "faces": []})
    writer.write({"image": "b.jpg", "error": "cannot read image b.jpg"})
    writer.close()
    whole = path.stat().st_size
    with open(path, "a") as cut:
        cut.write('{"image": "c.jpg", "fa')
    done, keep = read_done(path)
    assert done == {os.path.abspath("a.jpg"): None, os.path.abspath("b.jpg"): None} and keep == whole
    writer = JsonLines(path, keep)
    writer.write({"image": "c.jpg", "faces": []})
    writer.close()
    assert [entry["image"] for entry in lines(path)] == ["a.jpg", "b.jpg", "c.jpg"]


def test_output_checks_take_linear_time_and_still_see_links(tmp_path):
    def seconds_for(count):
        inputs = [tmp_path / f"in{index}.jpg" for index in range(count)]
        outputs = [tmp_path / "out" / f"in{index}_annotated.jpg" for index in range(count)]
        start = time.perf_counter()
        check_outputs(outputs, None, inputs, overwrite=False, jsonl_path=tmp_path / "r.jsonl")
        return time.perf_counter() - start

    # Ten times the photos: about ten times the time if linear, a hundred if pairwise. A ratio, so that a loaded
    # machine slows both sides alike (no wall-time limit).
    small = min(seconds_for(1_000) for _ in range(2))
    assert seconds_for(10_000) < 40 * small
    inputs = [tmp_path / f"in{index}.jpg" for index in range(20_000)]
    photo = tmp_path / "photo.jpg"
    write_image(photo, np.zeros((8, 8, 3), np.uint8))
    os.link(photo, tmp_path / "hard.jpg")
    os.symlink(photo, tmp_path / "soft.jpg")
    files = InputFiles([*inputs, photo])
    assert files.find(tmp_path / "hard.jpg") == photo and files.find(tmp_path / "soft.jpg") == photo
    assert files.find(tmp_path / "in7.jpg") is None  # does not exist
    with pytest.raises(FaceKitError, match="is the input"):
        check_outputs([tmp_path / "hard.jpg"], None, [photo], overwrite=True)
    with pytest.raises(FaceKitError, match="--jsonl .* is the input"):
        check_outputs([], None, [photo], overwrite=True, jsonl_path=tmp_path / "soft.jpg", resume=True)
    with pytest.raises(FaceKitError, match="same file"):
        check_outputs([], tmp_path / "r.json", [photo], overwrite=True, jsonl_path=tmp_path / "r.json")


def test_resume_needs_jsonl_and_refuses_json(tmp_path):
    photo = tmp_path / "p.jpg"
    write_image(photo, np.zeros((8, 8, 3), np.uint8))
    for extra, message in ((["--resume"], "--resume needs --jsonl"),
                           (["--resume", "--jsonl", tmp_path / "r.jsonl", "--json", tmp_path / "r.json"],
                            "would hold only this run's photos")):
        process = demo(photo, *extra)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 2 and message in err


@pytest.mark.parametrize("content", [b"my own notes\nnot json\n", b"\xff\xd8\xff\xe0 a JPEG\n\x00\x01",
                                     b'{"image": "a.jpg", "faces": []}\ngarbage\n{"image": "b.jpg", "faces": []}\n'])
def test_resume_refuses_a_file_that_is_not_its_own_json_lines_and_changes_nothing(tmp_path, content):
    """--jsonl FILE --resume rewrote any existing file; a garbage line in the middle dropped every valid line after
    it (issue 28)."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(FaceKitError, match=r"is not face_demo.py's JSON Lines \(line \d+ .* --resume appends only"):
        read_done(path)
    assert path.read_bytes() == content


def test_one_jsonl_has_one_writer(tmp_path):
    """Two runs on one --jsonl both exited 0 and the file ended with broken lines (issue 28)."""
    path = tmp_path / "r.jsonl"
    first = JsonLines(path)
    first.write({"image": "a.jpg", "faces": []})
    with pytest.raises(FaceKitError, match="another run is writing .*r.jsonl"):
        JsonLines(path)
    first.write({"image": "b.jpg", "faces": []})
    first.close()
    assert [entry["image"] for entry in lines(path)] == ["a.jpg", "b.jpg"]  # the refused run cut nothing
    JsonLines(path, path.stat().st_size).close()  # free again once the first is done


def test_a_full_disk_while_writing_jsonl_is_one_line(tmp_path):
    """--jsonl onto a full disk (/dev/full) gave OSError tracebacks (issue 28)."""
    writer = JsonLines("/dev/full")
    with pytest.raises(FaceKitError, match="cannot write /dev/full: No space left on device"):
        writer.write({"image": "a.jpg", "faces": []})
        writer.close()


def test_resume_after_the_library_grew_never_gives_a_new_photo_a_done_photos_output(tmp_path):
    """A new L1/x.jpg was written to out/x_annotated.jpg, replacing L2's x.jpg copy without --overwrite, and two
    JSONL lines claimed the same output (issue 28)."""
    from facekit.apps.photos import output_paths
    first, second = tmp_path / "L1" / "x.jpg", tmp_path / "L2" / "x.jpg"
    out = tmp_path / "out"
    before = output_paths([second], out)
    assert before == [out / "x_annotated.jpg"]
    claimed = {str(second.absolute()): str(before[0])}
    after = output_paths([first, second], out, claimed=claimed)
    assert after[1] == out / "x_annotated.jpg" and after[0] == out / "x_annotated_2.jpg"
