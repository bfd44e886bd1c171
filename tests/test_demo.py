"""face_demo.py end to end: annotated images and JSON with one entry per face, folders with bad files, errors."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import face_demo
from facekit.apps import demo_command
from facekit.apps.photos import output_paths
from facekit.core import outputs, paths
from facekit.core.errors import FaceKitError
from facekit.vision import images
from facekit.vision.images import read_image, write_image
from facekit.vision.tracking import box_iou
from tests.face_scenes import YUNET_MODEL, assert_landmarks_in_order

PROJECT = Path(__file__).resolve().parents[1]


YUNET = ["--detector", "yunet", "--detector-model", str(YUNET_MODEL)]  # the shipped file, named as a user would


def run_demo(argv):
    """face_demo.main in this process (TensorFlow loads once): its exit status."""
    with pytest.raises(SystemExit) as exit_info:
        face_demo.main([str(a) for a in argv])
    return exit_info.value.code


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_photo_gets_one_box_and_json_entry_per_face(tmp_path, four_faces_scene, tiny_model_file, capsys):
    image, placed = four_faces_scene
    photo = tmp_path / "group.jpg"
    write_image(photo, image)
    status = run_demo([photo, "--model", tiny_model_file, *YUNET, "--output", tmp_path / "out",
                       "--json", tmp_path / "faces.json"])
    assert status == 0
    assert "group.jpg: 4 faces" in capsys.readouterr().out
    annotated = read_image(tmp_path / "out" / "group_annotated.jpg")
    assert annotated.shape == image.shape
    [entry] = json.loads((tmp_path / "faces.json").read_text())
    assert (entry["width"], entry["height"]) == (1000, 700)
    assert len(entry["faces"]) == 4
    for box in placed:
        face = max(entry["faces"], key=lambda f: box_iou(box, tuple(f["box"].values())))
        assert box_iou(box, tuple(face["box"].values())) > 0.5
        assert face["gender"] in ("male", "female") and 0 <= face["age"] <= 100
        assert sum(face["probabilities"]["race"].values()) == pytest.approx(1, abs=1e-3)
        x, y = face["box"]["x"], face["box"]["y"] + face["box"]["height"] // 2
        assert np.abs(annotated[y, x].astype(int) - image[y, x]).sum() > 60  # the box's left edge is drawn


def test_folder_of_mixed_inputs_annotates_the_good_ones_and_reports_the_bad(
        tmp_path, four_faces_scene, tiny_model_file, capsys):
    image, _ = four_faces_scene
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "colour.png", image)
    Image.fromarray(image).convert("L").save(folder / "gray.jpg")
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    write_image(folder / "empty_wall.jpg", np.full((300, 400, 3), 90, np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    status = run_demo([folder, "--model", tiny_model_file, "--output", tmp_path / "out",
                       "--json", tmp_path / "faces.json"])  # the default detector, yunet
    captured = capsys.readouterr()
    assert status == 1
    [error] = error_lines(captured.err)
    assert "corrupt.jpg" in error and "1 of 5 images could not be annotated (4 were)" in captured.err
    entries = {Path(e["image"]).name: e for e in json.loads((tmp_path / "faces.json").read_text())}
    assert "cannot read image" in entries["corrupt.jpg"]["error"]
    for name in ("colour.png", "gray.jpg", "alpha.png"):
        assert len(entries[name]["faces"]) == 4, name
    assert entries["empty_wall.jpg"]["faces"] == []
    assert "empty_wall.jpg: no face found" in captured.out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["alpha_annotated.png", "colour_annotated.png", "empty_wall_annotated.jpg",
                       "gray_annotated.jpg"]


HAAR = ["--detector", "haar"]  # no model file, no ../shared: for the tests of everything but detection


def test_existing_output_is_not_replaced_without_overwrite(tmp_path, tiny_model_file, capsys):
    photo = tmp_path / "wall.jpg"
    write_image(photo, np.full((100, 100, 3), 50, np.uint8))
    target = tmp_path / "wall_annotated.jpg"
    target.write_bytes(b"user's file")
    args = [photo, "--model", tiny_model_file, *HAAR, "--output", target]
    assert run_demo(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"user's file"
    assert run_demo([*args, "--overwrite"]) == 0
    assert read_image(target).shape == (100, 100, 3)
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", photo, "--overwrite"]) == 2
    assert "is the input" in capsys.readouterr().err


def test_same_names_from_two_folders_do_not_collide():
    paths = output_paths([Path("a/x.jpg"), Path("b/x.jpg"), Path("b/x.png")], Path("out"))
    assert [p.name for p in paths] == ["x_annotated.jpg", "x_annotated_2.jpg", "x_annotated.png"]


@pytest.mark.parametrize("case, expected", [
    ("missing input", "input not found"),
    ("missing model", "model file not found"),
    ("missing detector file", "yunet model file not found"),
    ("no detector file", "the ssd detector needs its model file"),
])
def test_user_errors_exit_2_with_one_line(case, expected, tmp_path, tiny_model_file, capsys):
    photo = tmp_path / "photo.jpg"
    write_image(photo, np.full((100, 100, 3), 50, np.uint8))
    args = {
        "missing input": [tmp_path / "nowhere.jpg", "--model", tiny_model_file],
        "missing model": [photo, "--model", tmp_path / "absent.keras"],
        "missing detector file": [photo, "--model", tiny_model_file, "--detector", "yunet",
                                  "--detector-model", tmp_path / "absent.onnx"],
        "no detector file": [photo, "--model", tiny_model_file, "--detector", "ssd"],
    }[case]
    assert run_demo([*args, "--output", tmp_path / "out"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert expected in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_command_line_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "face_demo.py", str(tmp_path / "absent.jpg")], cwd=PROJECT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: input not found: {tmp_path / 'absent.jpg'}"


def test_without_model_the_shipped_default_is_used_and_named(tmp_path, monkeypatch, capsys):
    photo = tmp_path / "wall.jpg"
    write_image(photo, np.full((100, 100, 3), 50, np.uint8))
    assert run_demo([photo, *HAAR, "--output", tmp_path / "out"]) == 0
    assert f"using the default model: {paths.default_model()}" in capsys.readouterr().out
    assert paths.default_model().suffix == ".tflite"
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)  # a checkout without it
    assert run_demo([photo, *HAAR, "--output", tmp_path / "out2"]) == 2
    captured = capsys.readouterr()
    assert f"the default model {tmp_path / 'face_weights'}" in captured.err and "pass --model PATH" in captured.err
    assert "using the default model" not in captured.out  # it was announced, then not found


def test_mtcnn_without_its_extra_is_refused_once_before_any_work(tmp_path, tiny_model_file, monkeypatch, capsys):
    """It failed on every photo (exit 1); the light install has no mtcnn."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mtcnn" else
                        real_find_spec(name, *a))
    photos = [gray_photo(tmp_path / f"{i}.jpg") for i in range(3)]
    assert run_demo([*photos, "--model", tiny_model_file, "--detector", "mtcnn", "--output", tmp_path / "out"]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == ["error: the mtcnn detector needs mtcnn, which is not installed: pip install .[train]"]
    assert not (tmp_path / "out").exists()


def gray_photo(path):
    write_image(path, np.full((100, 100, 3), 50, np.uint8))
    return path


def test_a_hard_link_to_the_input_is_the_input_and_json_never_replaces_an_image(tmp_path, tiny_model_file, capsys):
    photo = gray_photo(tmp_path / "in.jpg")
    before = photo.read_bytes()
    os.link(photo, tmp_path / "hard.jpg")
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "hard.jpg", "--overwrite"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "is the input" in line and photo.read_bytes() == before
    out = tmp_path / "x.jpg"
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", out, "--json", out]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "--json" in line and "choose another --json" in line and not out.exists()
    (tmp_path / "taken.json").write_text("[]")
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "o",
                     "--json", tmp_path / "taken.json"]) == 2
    assert "choose another --json" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--output", "--json"])
def test_an_output_that_cannot_be_written_is_found_before_anything_is_loaded(option, tmp_path, capsys):
    photo = gray_photo(tmp_path / "a.jpg")
    gray_photo(tmp_path / "b.jpg")
    outputs = {"--output": ["--output", "/proc/nope"], "--json": ["--output", tmp_path / "out",
                                                                  "--json", "/proc/nope/faces.json"]}[option]
    # The model does not exist: the output check comes first, before any model, detector or image is loaded.
    assert run_demo([photo, tmp_path / "b.jpg", "--model", tmp_path / "absent.keras", *HAAR, *outputs]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert f"cannot write to the folder /proc/nope ({option})" in line
    assert not (tmp_path / "out").exists()


def test_a_json_that_fails_after_the_images_exits_1_not_2(tmp_path, tiny_model_file, monkeypatch, capsys):
    photo = gray_photo(tmp_path / "a.jpg")

    def disk_full(path, text):
        raise FaceKitError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(demo_command, "write_text", disk_full)
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "out",
                     "--json", tmp_path / "faces.json"]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert "No space left on device" in line
    assert (tmp_path / "out" / "a_annotated.jpg").is_file()


def test_a_full_disk_leaves_no_half_image_under_the_final_name(tmp_path, tiny_model_file, monkeypatch, capsys):
    photo = gray_photo(tmp_path / "a.jpg")
    real_open = open

    def fills_the_disk(file, mode="r", *args, **kwargs):  # a short write that says nothing, as Pillow 13's does
        f = real_open(file, mode, *args, **kwargs)
        if "w" in mode:
            real_write = f.write
            f.write = lambda data: real_write(data[:100])
        return f

    monkeypatch.setattr(outputs, "open", fills_the_disk, raising=False)
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "out"]) == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert "cannot write image" in line and "No space left on device" in line
    assert "the image could not be annotated" in err
    assert list((tmp_path / "out").iterdir()) == []  # neither a_annotated.jpg nor a partial file


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped elsewhere): a real full disk."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_real_full_disk_is_an_error_and_no_truncated_image(tmp_path, tiny_disk, tiny_model_file, capsys):
    photo = tmp_path / "noise.png"  # a JPEG a little larger than the disk: Pillow's save returned normally
    write_image(photo, (np.random.default_rng(0).random((299, 299, 3)) * 255).astype(np.uint8))
    out = tiny_disk / "out.jpg"
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", out]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(tiny_disk.iterdir()) == []


def test_temporary_names_never_replace_a_file(tmp_path, tiny_model_file):
    """Results were written as STEM.partial.EXT and renamed: an input or any file of that name was destroyed."""
    photo = gray_photo(tmp_path / "photo.partial.jpg")
    before = photo.read_bytes()
    unrelated = tmp_path / "faces.partial.json"
    unrelated.write_text("someone's file")
    assert run_demo([photo, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "photo.jpg",
                     "--json", tmp_path / "faces.json"]) == 0
    assert photo.read_bytes() == before and unrelated.read_text() == "someone's file"
    assert read_image(tmp_path / "photo.jpg").shape[2] == 3 and json.loads((tmp_path / "faces.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.json", "faces.partial.json", "photo.jpg",
                                                          "photo.partial.jpg"]


def test_broken_and_looping_symlinks_in_a_folder_are_reported(tmp_path, tiny_model_file, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    gray_photo(folder / "good.jpg")
    (folder / "dangling.jpg").symlink_to(tmp_path / "deleted.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    assert run_demo([folder, "--model", tiny_model_file, *HAAR, "--output", tmp_path / "out"]) == 1
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert len(lines) == 2 and all("broken symbolic link" in line for line in lines)
    assert {"dangling.jpg", "loop.jpg"} == {Path(line.split()[-1]).name for line in lines}
    assert "2 of 3 images could not be annotated (1 were)" in err


def test_a_photo_shrunk_for_detection_is_reported_in_the_files_pixels(
        tmp_path, four_faces_scene, tiny_model_file, monkeypatch, capsys):
    image, placed = four_faces_scene  # 1000 x 700
    monkeypatch.setattr(images, "MAX_SIDE", 500)
    photo = tmp_path / "group.png"
    write_image(photo, image)
    assert run_demo([photo, "--model", tiny_model_file, *YUNET, "--output", tmp_path / "out",
                     "--json", tmp_path / "faces.json"]) == 0
    [entry] = json.loads((tmp_path / "faces.json").read_text())
    assert (entry["width"], entry["height"], entry["detection_scale"]) == (1000, 700, 0.5)
    assert read_image(tmp_path / "out" / "group_annotated.png").shape == (350, 500, 3)  # the copy it drew on
    assert len(entry["faces"]) == 4
    for box in placed:
        face = max(entry["faces"], key=lambda f: box_iou(box, tuple(f["box"].values())))
        assert box_iou(box, tuple(face["box"].values())) > 0.5
        landmarks = np.array(face["landmarks"])  # YuNet's five points, found on the half-size copy
        assert_landmarks_in_order(tuple(face["box"].values()), landmarks)
        right_eye, left_eye = landmarks[:2]
        assert left_eye[0] - right_eye[0] > box[2] / 4  # the eyes' distance in the file's pixels, not the copy's


def test_a_newer_diverged_run_is_never_the_demos_model(tmp_path, tiny_model_file, monkeypatch, capsys):
    """A run that diverged wrote best.keras but no metrics.json; without --model the demos use the shipped default,
    and say so, whatever newer files face_weights/ holds."""
    shipped = paths.default_model()
    default = tmp_path / "face_weights" / "default"
    default.mkdir(parents=True)
    for path in (shipped, shipped.with_name(shipped.name + ".json")):
        shutil.copy(path, default)
    diverged = tmp_path / "face_weights" / "diverged" / "best.keras"
    diverged.parent.mkdir()
    shutil.copy(tiny_model_file, diverged)  # written after the default
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    assert run_demo([gray_photo(tmp_path / "wall.jpg"), *HAAR, "--output", tmp_path / "out"]) == 0
    out = capsys.readouterr().out
    assert f"using the default model: {default / shipped.name}" in out and "diverged/best.keras" not in out


def test_quiet_prints_no_line_per_photo_only_errors(tmp_path, tiny_model_file, capsys):
    """-q still printed a line per photo and "wrote ..." (issue 28): with -q only warnings and errors."""
    for index in range(3):
        write_image(tmp_path / f"p{index}.jpg", np.full((60, 60, 3), 90, np.uint8))
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    assert run_demo([tmp_path, *HAAR, "--model", tiny_model_file, "--no-annotate", "--jsonl", tmp_path / "r.jsonl",
                     "-q"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "bad.jpg" in captured.err and "p0.jpg" not in captured.err
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 4


def test_a_library_is_read_ahead_and_its_large_jpegs_decoded_reduced(tmp_path, capsys):
    """--no-annotate --min-face 160: the next photos read in threads, a large JPEG decoded at 1/4 and searched at
    the whole photo's resolutions; the lines in the inputs' order, the same faces as --read-ahead 0 --full-decode
    (boxes within a few pixels, labels within a small tolerance), a PNG's and a bad file's lines the same."""
    from tests.apps.test_library import assert_same_faces, large_faces_jpeg
    folder = tmp_path / "photos"
    folder.mkdir()
    large_faces_jpeg(folder / "a_large.jpg", [(0, 60, 100, 800), (1, 900, 300, 640)])
    large_faces_jpeg(folder / "b_large.png", [(1, 500, 200, 700)])
    (folder / "c_bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    write_image(folder / "d_small.jpg", read_image(folder / "a_large.jpg")[::4, ::4].copy())
    runs = {}
    for name, options in (("after", []), ("before", ["--read-ahead", "0", "--full-decode"])):
        assert run_demo([folder, "--no-annotate", "--jsonl", tmp_path / f"{name}.jsonl", "--min-face", "160",
                         *options]) == 1
        runs[name] = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    after, before = runs["after"], runs["before"]
    assert [Path(entry["image"]).name for entry in after] == sorted(p.name for p in folder.iterdir())
    assert [entry.get("detection_scale") for entry in after] == [0.25, None, None, None]
    assert_same_faces(after[0], before[0])
    assert after[1:] == before[1:] and "cannot read image" in after[2]["error"]
    assert "c_bad.jpg" in capsys.readouterr().err
    assert run_demo([folder / "a_large.jpg", "--min-face", "160", "--json", tmp_path / "annotated.json",
                     "--output", tmp_path / "out"]) == 0
    [annotated] = json.loads((tmp_path / "annotated.json").read_text())  # annotated copies: decoded whole
    assert "detection_scale" not in annotated and annotated["faces"] == before[0]["faces"]
    assert read_image(tmp_path / "out" / "a_large_annotated.jpg").shape == (1200, 1600, 3)


def test_read_ahead_takes_0_or_more_and_an_early_stop_ends_its_threads(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        face_demo.parse_args([str(tmp_path), "--read-ahead", "-1"])
    assert exit_info.value.code == 2 and "--read-ahead: must be 0 or more, not -1" in capsys.readouterr().err
    for index in range(12):
        write_image(tmp_path / f"p{index:02d}.jpg", np.full((60, 80, 3), 90, np.uint8))
    assert run_demo([tmp_path, *HAAR, "--no-annotate", "--jsonl", "/dev/full", "--overwrite"]) == 2
    assert "cannot write /dev/full" in capsys.readouterr().err
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("read-photo")]
