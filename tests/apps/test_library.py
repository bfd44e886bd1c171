"""A photo library with face_demo.py: --jsonl (a line per photo, flushed), --resume after kill -9 (each photo
exactly once), --no-annotate, --workers N (the same results as one process), the progress bar, and output checks in
linear time; the pipeline (photos read ahead in threads: the entries of one photo at a time, in order, with memory
bounded) and the reduced JPEG decode (the same faces, boxes within a few pixels, labels within a small tolerance).
Real faces without ../shared: the README photo and variants of it, the repository's face on large canvases."""
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekit.apps import photos as photos_module
from facekit.apps.cli import analyzer_from_options
from facekit.apps.demo_command import parse_args
from facekit.apps.library import JsonLines, auto_workers, photo_results, pipelined_results, read_done
from facekit.apps.photos import analyze_photo, check_outputs, reduced_decode
from facekit.core.errors import FaceKitError, InputError
from facekit.core.outputs import InputFiles
from facekit.infer.options import AnalyzerOptions
from facekit.vision.images import read_image, write_image
from tests.face_scenes import README_PHOTO, compose

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


@functools.cache
def default_analyzer(min_face=None):
    """The shipped model and YuNet, as face_demo.py builds them (built once per --min-face)."""
    options = AnalyzerOptions(min_face=min_face)
    return options, analyzer_from_options(options, False)


def test_the_pipeline_gives_one_photo_at_a_times_entries_in_order(tmp_path):
    """Photos read ahead in threads, annotated copies written in threads: the same entries as analyze_photo one
    after another, in the inputs' order, a bad file's error line in its place, the same annotated copies."""
    folder = library(tmp_path / "photos", 3)
    (folder / "b900.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "c901.jpg").symlink_to(folder / "deleted.jpg")
    images = sorted(folder.iterdir())
    _, analyzer = default_analyzer()
    for annotate in (False, True):
        runs = []
        for name, read_ahead in (("one", None), ("none", 0), ("ahead", 3)):
            tasks = [(image, tmp_path / name / f"{image.stem}.jpg" if annotate else None) for image in images]
            if read_ahead is None:
                runs.append([analyze_photo(analyzer, *task) for task in tasks])
            else:
                runs.append(list(pipelined_results(analyzer, tasks, read_ahead)))
            for entry, _ in runs[-1]:
                assert entry.pop("output", None) == (str(tmp_path / name / f"{Path(entry['image']).stem}.jpg")
                                                     if annotate and "error" not in entry else None)
            runs[-1] = [(entry, summary and summary.replace(f"/{name}/", "/out/")) for entry, summary in runs[-1]]
        assert runs[0] == runs[1] == runs[2]
        assert [Path(entry["image"]) for entry, _ in runs[0]] == images
        assert [summary is None for _, summary in runs[0]] == [False, False, True, False, True]
        assert "cannot read image" in runs[0][2][0]["error"] and "broken symbolic link" in runs[0][4][0]["error"]
        assert [len(entry.get("faces", [])) for entry, _ in runs[0]] == [3, 3, 0, 3, 0]
    for image in ("a000", "c002"):
        copies = {(tmp_path / name / f"{image}.jpg").read_bytes() for name in ("one", "none", "ahead")}
        assert len(copies) == 1


class SlowAnalyzer:
    """No faces, after a while: the analysis the threads read ahead of."""

    def __init__(self, state):
        self.state = state

    def analyze(self, image, timings=None):
        time.sleep(0.01)
        self.state["analysed"] += 1
        return []


def test_photos_are_read_ahead_in_threads_but_never_more_than_read_ahead(tmp_path, monkeypatch):
    state = {"read": 0, "analysed": 0, "most": 0}
    lock = threading.Lock()

    def read(path, reduction=1, min_side=0):
        if Path(path).stem.startswith("bad"):
            raise InputError(f"cannot read image {path}: not an image")
        with lock:
            state["read"] += 1
            state["most"] = max(state["most"], state["read"] - state["analysed"])
        return np.zeros((4, 6, 3), np.uint8), (6, 4)

    monkeypatch.setattr(photos_module, "read_image_and_size", read)
    names = [f"{'bad' if index % 7 == 3 else 'p'}{index}.jpg" for index in range(40)]
    timings = {}
    entries = [entry for entry, _ in pipelined_results(SlowAnalyzer(state), [(n, None) for n in names], 3, None,
                                                      timings)]
    assert [entry["image"] for entry in entries] == names
    assert [("error" in entry) for entry in entries] == [name.startswith("bad") for name in names]
    assert entries[0] == {"image": "p0.jpg", "width": 6, "height": 4, "faces": []}
    assert 2 <= state["most"] <= 4  # read ahead of the analysis; at most 3 waiting and the one analysed
    assert timings["decode"] > 0
    state.update(read=0, analysed=0)
    results = pipelined_results(SlowAnalyzer(state), [(f"p{index}.jpg", None) for index in range(40)], 3)
    next(results), next(results)
    results.close()  # the caller stops early (face_demo.py on an error writing --jsonl): no more reads start
    assert state["read"] <= 6 and not [t for t in threading.enumerate() if t.name.startswith("read-photo")]


def large_faces_jpeg(path, placements, turn=0):
    """The repository's face on a 1600x1200 canvas at (index, x, y, side) placements, as a JPEG (a PNG when the
    name says so); stored ``turn`` quarter turns counter-clockwise, with the EXIF orientation that shows it upright
    (1: orientation 6, 3: orientation 8)."""
    canvas, _ = compose((1200, 1600), placements)
    exif = Image.Exif()
    if turn:
        exif[0x0112] = {1: 6, 3: 8}[turn]
    Image.fromarray(np.rot90(canvas, turn)).save(path, quality=92, exif=exif)
    return path


def assert_same_faces(reduced, whole, pixels=6):
    """Reduced and whole decode's entries: the same faces, boxes within ``pixels`` in the file's pixels, landmarks
    within twice that, age within a year, the same gender and race, probabilities within 0.03."""
    assert (reduced["width"], reduced["height"]) == (whole["width"], whole["height"])
    assert len(reduced["faces"]) == len(whole["faces"]) > 0
    for face, other in zip(reduced["faces"], whole["faces"]):
        assert all(abs(face["box"][key] - other["box"][key]) <= pixels for key in face["box"]), (face, other)
        np.testing.assert_allclose(face["landmarks"], other["landmarks"], atol=2 * pixels)
        assert abs(face["age"] - other["age"]) < 1.0
        assert (face["gender"], face["race"]) == (other["gender"], other["race"])
        assert abs(face["gender_probability"] - other["gender_probability"]) < 0.03
        assert abs(face["race_probability"] - other["race_probability"]) < 0.03


@pytest.mark.parametrize("placements, reductions, scale", [
    ([(0, 60, 100, 800), (1, 900, 300, 640)], [4], 0.25),  # large faces: cut out of the copy at 1/4
    ([(0, 60, 100, 800), (1, 1000, 500, 400)], [4, 2], 0.5),  # a smaller one: read again at 1/2 for its crop
], ids=["crops-at-quarter", "read-again-at-half"])
def test_reduced_decode_finds_the_same_faces_with_the_same_labels(tmp_path, monkeypatch, placements, reductions,
                                                                  scale):
    """--min-face 160: a 1600x1200 JPEG decoded at 1/4 (400x300) and searched at the resolutions of the whole
    photo; the faces are cut out of the copy whose pixels their crops need. Real faces, the shipped model."""
    options, analyzer = default_analyzer(160)
    reduced = reduced_decode(options, analyzer)
    assert reduced is not None and reduced.decode == (4, 320)
    photo = large_faces_jpeg(tmp_path / "large.jpg", placements)
    whole, _ = analyze_photo(analyzer, photo)
    asked = []
    read = photos_module.read_image_and_size
    monkeypatch.setattr(photos_module, "read_image_and_size", lambda *a: asked.append(a[1]) or read(*a))
    entry, summary = analyze_photo(analyzer, photo, reduced=reduced)
    assert asked == reductions and entry["detection_scale"] == scale and summary.endswith("2 faces")
    assert "detection_scale" not in whole
    assert_same_faces(entry, whole)


@pytest.mark.parametrize("turn", [1, 3])
def test_reduced_decode_honours_the_exif_orientation(tmp_path, turn):
    options, analyzer = default_analyzer(160)
    reduced = reduced_decode(options, analyzer)
    placements = [(0, 60, 100, 800), (1, 900, 300, 640)]
    upright, _ = analyze_photo(analyzer, large_faces_jpeg(tmp_path / "upright.jpg", placements))
    entry, _ = analyze_photo(analyzer, large_faces_jpeg(tmp_path / "turned.jpg", placements, turn), reduced=reduced)
    assert (entry["width"], entry["height"], entry["detection_scale"]) == (1600, 1200, 0.25)
    assert_same_faces(entry, upright, pixels=8)  # stored turned: JPEG's blocks fall elsewhere


def test_reduced_decode_only_where_the_smallest_face_allows_it(tmp_path):
    """YuNet's first pass needs 40/56 of the photo's pixels with the default --min-face: no reduction; other
    detectors (their search is not declared): none; small JPEGs and other formats: read whole."""
    assert reduced_decode(*default_analyzer()) is None
    haar = AnalyzerOptions(detector="haar")
    assert reduced_decode(haar, analyzer_from_options(haar, False)) is None
    assert [reduced_decode(*default_analyzer(face)).decode for face in (80, 120, 320, 1000)] == \
        [(2, 320), (2, 320), (8, 320), (8, 320)]
    options, analyzer = default_analyzer(160)
    reduced = reduced_decode(options, analyzer)
    image = read_image(README_PHOTO)[:, 300:900]  # 600x400: its longer side at 1/2 would be under 320
    for name in ("readme.jpg", "readme.png"):
        write_image(tmp_path / name, image)
        entry, _ = analyze_photo(analyzer, tmp_path / name, reduced=reduced)
        assert "detection_scale" not in entry and entry == analyze_photo(analyzer, tmp_path / name)[0]


def test_photo_results_with_reduced_decode_in_order(tmp_path):
    """face_demo.py --no-annotate --min-face 160: photo_results reads ahead and decodes reduced."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("p0.jpg", "p1.png", "p2.jpg"):  # a PNG is read whole
        large_faces_jpeg(folder / name, [(int(name[1]), 100 + 50 * int(name[1]), 100, 800)])
    images = sorted(folder.iterdir())
    options, _ = default_analyzer(160)
    make = functools.partial(analyzer_from_options, options, False)
    results = list(photo_results(make, [(image, None) for image in images], 1, 2,
                                 functools.partial(reduced_decode, options)))
    assert [Path(entry["image"]).name for entry, _ in results] == ["p0.jpg", "p1.png", "p2.jpg"]
    assert [entry.get("detection_scale") for entry, _ in results] == [0.25, None, 0.25]


@pytest.mark.parametrize("photos, cores, workers", [(199, 2, 1), (200, 2, 2), (5000, 16, 2), (5000, 1, 1)])
def test_auto_workers_run_two_processes_only_for_a_large_library_on_two_cores_or_more(photos, cores, workers):
    assert auto_workers(photos, cores) == workers


def test_workers_take_auto_or_a_count_and_refuse_anything_else(capsys):
    assert parse_args(["a.jpg"]).workers == "auto" and parse_args(["a.jpg", "--workers", "3"]).workers == 3
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["a.jpg", "--workers", bad])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "--workers: must be " in err and f"not {bad}" in err
