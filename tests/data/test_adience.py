"""Adience's fold files (facekit/data/adience.py) and --protocol adience-5fold (facekit/train/adience_protocol.py)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import face_train
from facekit.core import paths
from facekit.core.errors import DataError
from facekit.core.labels import age_group, age_group_names
from facekit.data.adience import parse_age
from facekit.data.datasets import read_dataset
from facekit.data.samples import MISSING
from tests import background
from tests.logged import logged_messages
from tests.shared_data import SHARED
from tests.synthetic_faces import synthetic_face

ADIENCE = SHARED / "data" / "adience"
PROJECT = Path(__file__).resolve().parents[2]
SAMPLE_USER = "30601258@N03"
needs_adience = pytest.mark.skipif(not (ADIENCE / "fold_0_data.txt").is_file(), reason=f"Adience not at {ADIENCE}")
HEADER = ("user_id\toriginal_image\tface_id\tage\tgender\tx\ty\tdx\tdy\ttilt_ang\tfiducial_yaw_angle\t"
          "fiducial_score")


@pytest.mark.parametrize("text, group", [
    ("(0, 2)", "0-2"), ("(8, 12)", "8-13"), ("(60, 100)", "60+"), ("(27, 32)", "25-32"), ("(38, 42)", "38-43"),
    ("(38, 48)", "38-43"), ("(8, 23)", "15-20"), ("35", "25-32"), ("13", "8-13"), ("22", "15-20"), ("3", "0-2"),
    ("57", "60+")])
def test_ages_map_to_the_eight_groups_by_the_documented_rule(text, group):
    assert age_group_names()[age_group(parse_age(text))[0]] == group


def test_none_is_a_missing_age_and_junk_is_refused():
    assert parse_age("None") == MISSING
    with pytest.raises(ValueError):
        parse_age("(25 32")


@pytest.mark.parametrize("text", ["999", "(0, 1000)", "131", "(32, 25)"])
def test_ages_no_one_has_are_refused(text):
    """999 and (0, 1000) were read as ages (the CSV reader refuses over 130)."""
    with pytest.raises(ValueError):
        parse_age(text)


@needs_adience
def test_the_real_fold_files_parse_with_counts_and_find_the_sample_faces():
    with logged_messages() as messages:
        samples = read_dataset(ADIENCE, images=ADIENCE / "sample_aligned")
    assert len(samples) == 19 and (samples.folds == 0).all()
    assert messages[0].startswith("fold_0_data.txt: 4484 faces; age 0-2 973, ")
    assert "; 19 with an image and a label, 4465 skipped" in messages[0]
    assert sum(int(m.split(":")[1].split()[0]) for m in messages[:5]) == 19370  # every row of the five files
    assert {age_group_names()[g] for g in age_group(samples.ages)} == {"25-32"}
    for path, gender in zip(samples.paths, samples.genders):  # face 1 is the woman, face 2 the man
        assert gender == {"1": 1, "2": 0}[path.split("/")[-1].split(".")[1]]


def _synthetic_adience(folder, per_fold=12, real_rows=()):
    """Five fold files of tiny synthetic faces (one person per two faces), plus ``real_rows`` in fold 0."""
    rng = np.random.default_rng(0)
    labels = ["(0, 2)", "(4, 6)", "(8, 12)", "(15, 20)", "(25, 32)", "(38, 43)", "(48, 53)", "(60, 100)", "35", "None"]
    for k in range(5):
        lines = [HEADER] + (list(real_rows) if k == 0 else [])
        for i in range(per_fold):
            user, age, gender = f"user{k}_{i // 2}", labels[(i + k) % len(labels)], "mfu"[i % 3]
            image = f"{k}{i:03d}_o.jpg"
            (folder / "aligned" / user).mkdir(parents=True, exist_ok=True)
            face = synthetic_face(30, "mf".index(gender) if gender != "u" else 0, 0, 32, rng)
            Image.fromarray(face).save(folder / "aligned" / user / f"landmark_aligned_face.{i}.{image}")
            lines.append(f"{user}\t{image}\t{i}\t{age}\t{gender}\t0\t0\t10\t10\t0\t0\t50")
        (folder / f"fold_{k}_data.txt").write_text("\n".join(lines))  # no newline at the end, as in Adience


@background.job("adience protocol", tests=["test_adience.py::test_five_fold_protocol_runs_on_the_sample_faces"])
def _protocol_run(folder):
    """face_train.py --protocol adience-5fold on the sample faces and synthetic folds, in a process of its own with
    ``folder``/home as FACEKIT_HOME: (the data, that home, the ended process). None without Adience."""
    if not (ADIENCE / "fold_0_data.txt").is_file():
        return None
    data = folder / "adience"
    shutil.copytree(ADIENCE / "sample_aligned", data / "aligned")
    real = [line for line in (ADIENCE / "fold_0_data.txt").read_text().splitlines() if line.startswith(SAMPLE_USER)]
    _synthetic_adience(data, real_rows=real)
    # The protocol's plumbing, not the network's: --freeze all trains each fold's heads on cached features, the
    # cheapest run train() makes (a fold in about 10 s instead of 12 on 2 cores)
    done = subprocess.run([sys.executable, "face_train.py", "--data", str(data), "--protocol", "adience-5fold",
                           "--backbone", "simple_cnn", "--weights", "none", "--input-size", "32", "--epochs", "1",
                           "--batch-size", "16", "--no-augment", "--freeze", "all", "--run", "lh"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=600,
                          env=background.environment(TF_CPP_MIN_LOG_LEVEL="3",
                                                     **{paths.HOME_VARIABLE: str(folder / "home")}))
    return data, folder / "home", done


@pytest.mark.slow
@needs_adience
def test_five_fold_protocol_runs_on_the_sample_faces_and_synthetic_folds(monkeypatch):
    data, project, done = background.result("adience protocol")  # run as the session starts
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "fold_0_data.txt: " in out and "adience-5fold: fold 4 held out (5 of 5)" in out
    summary = json.loads((project / "face_weights" / "lh" / "protocol.json").read_text())
    samples = read_dataset(data)
    for score in ("age_group_exact", "age_group_1off", "gender_acc"):
        folds = [json.loads((project / "face_weights" / "lh" / f"fold{k}" / "metrics.json").read_text())[score]
                 for k in range(5)]
        assert summary[score] == {"mean": round(float(np.mean(folds)), 4), "std": round(float(np.std(folds)), 4),
                                  "folds": folds}
    for k in range(5):  # each run was scored on exactly its held-out fold, and trained on none of it
        split = json.loads((project / "face_weights" / "lh" / f"fold{k}" / "split.json").read_text())
        fold_names = sorted(p.split("/")[-1] for p in samples.paths[samples.folds == k])
        assert sorted(split["test"]) == fold_names and not set(split["train"] + split["val"]) & set(fold_names)
    # Rows with neither an age nor a gender ("None" and "u") are skipped; every other row is read.
    unlabelled = sum(1 for k in range(5) for i in range(12) if (i + k) % 10 == 9 and i % 3 == 2)
    assert unlabelled > 0 and len(samples) == 19 + 5 * 12 - unlabelled
    monkeypatch.setenv(paths.HOME_VARIABLE, str(project))  # the same runs, in this process
    with pytest.raises(SystemExit):  # the summary is never overwritten
        face_train.main(["--data", str(data), "--protocol", "adience-5fold", "--run", "lh"])


@pytest.mark.parametrize("header", ["user_id\toriginal_image\tface_id\tage",
                                    "user_id,original_image,face_id,age,gender"])
def test_a_fold_file_without_its_columns_says_so(header, tmp_path):
    """A missing column, or commas for tabs, ended in "no face found under ..."."""
    (tmp_path / "aligned").mkdir()
    (tmp_path / "fold_0_data.txt").write_text(header + "\n" + header.replace("user_id", "u1") + "\n")
    with pytest.raises(DataError, match="lacks the column"):
        read_dataset(tmp_path / "fold_0_data.txt")


def test_a_fold_whose_only_row_has_an_impossible_age_does_not_blame_the_faces(tmp_path):
    """Found by the round-2 probe: age 999 in the only row ended in "no face ... found under aligned"."""
    (tmp_path / "aligned" / "u1").mkdir(parents=True)
    Image.new("RGB", (64, 64), (90, 90, 90)).save(tmp_path / "aligned" / "u1" / "landmark_aligned_face.1.a.jpg")
    (tmp_path / "fold_0_data.txt").write_text("user_id\toriginal_image\tface_id\tage\tgender\nu1\ta.jpg\t1\t999\t\n")
    with logged_messages() as messages, pytest.raises(DataError, match="no usable face in .*each row is unparsable"):
        read_dataset(tmp_path / "fold_0_data.txt")
    assert "1 unparsable row(s): line 2" in messages[0]
