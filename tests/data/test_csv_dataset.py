"""CSV datasets (facekit/data/csv_dataset.py), masked losses for missing labels, and submission files."""
import csv
import json
import shutil

import numpy as np
import pytest

import face_train
from facekit.core.errors import DataError
from facekit.data.datasets import read_dataset
from facekit.data.samples import MISSING
from facekit.train import metrics, training
from facekit.train.pipeline import Augmentation
from tests.logged import logged_messages
from tests.shared_data import UTKFACE, needs_utkface
from tests.synthetic_faces import write_utkface_folder


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_rows_with_problems_are_reported_by_line_skipped_and_counted(tmp_path):
    images = tmp_path / "train"
    names = sorted(write_utkface_folder(images, count=4))
    for i, name in enumerate(names):
        (images / name).rename(images / f"{i}.jpg")
    table = _write_csv(tmp_path / "train.csv", ["id", "age", "label"], [
        ["0", "31", "1"], ["1", "", "m"], ["2", "40", "x"], ["9", "20", "0"], ["3", "7"], ["3", "abc", "0"],
        ["3", "12.4", "female"]])
    with logged_messages() as messages:
        samples = read_dataset(table, images=images, label_column="gender")
    assert [p.split("/")[-1] for p in samples.paths] == ["0.jpg", "1.jpg", "3.jpg"]  # a bare id gets .jpg
    assert samples.ages.tolist() == [31, MISSING, 12] and samples.genders.tolist() == [1, 0, 1]
    assert (samples.races == MISSING).all()
    assert messages[0].startswith("skipped 4 row(s) of train.csv: line 4: unknown gender 'x'; line 5: no image file ")
    assert "line 6: 2 fields, the header has 3; line 7: unknown age 'abc'" in messages[0]

    for label_column, message in ((None, "has a label column: say what it holds with --label-column"),
                                  ("age", "has both a label and a age column")):
        with pytest.raises(DataError, match=message):
            read_dataset(table, images=images, label_column=label_column)
    with pytest.raises(DataError, match="--images is not for"):
        read_dataset(images, images=images)  # a UTKFace folder takes no --images
    no_names = _write_csv(tmp_path / "bad.csv", ["name", "gender"], [["0", "1"]])
    with pytest.raises(DataError, match="has no id, file or path column"):
        read_dataset(no_names)


def test_labelled_metrics_skip_images_without_the_label():
    accuracy = metrics.LabelledAccuracy()
    y_true = np.array([[1, 0], [0, 0], [0, 1]], np.float32)  # the second image has no gender
    accuracy.update_state(y_true, np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]], np.float32))
    assert float(accuracy.result()) == 1.0  # counted over the two labelled images only
    mae = metrics.AgeMAE([0.0, 10.0])
    mae.update_state(np.array([[1, 0], [0, 0]], np.float32), np.array([[0.5, 0.5], [0.5, 0.5]], np.float32))
    assert float(mae.result()) == 5.0


@pytest.mark.slow
@needs_utkface
def test_csv_workflow_on_real_faces_trains_evaluates_and_writes_the_submission(project, tmp_path, capsys):
    """The seed task: train.csv (id,label with gender), train/ of id.jpg, test.csv of ids, sampleSubmit.csv."""
    files = sorted(UTKFACE.glob("*.jpg"))[:90]
    train_dir = tmp_path / "task" / "train"
    train_dir.mkdir(parents=True)
    rows = []
    for i, path in enumerate(files):
        shutil.copy(path, train_dir / f"{i}.jpg")
        rows.append([str(i), path.name.split("_")[1]])
    train_csv = _write_csv(tmp_path / "task" / "train.csv", ["id", "label"], rows)
    config = training.TrainConfig(
        data=str(train_csv), images=str(train_dir), label_column="gender", run="csv", backbone="simple_cnn",
        weights=None, input_size=32, epochs=2, batch_size=16, lr=3e-3, patience=10,
        augmentation=training.asdict(Augmentation.off()))
    metrics = training.train(config).metrics
    # Only gender is scored; age and race have no label, so their heads added no loss.
    assert metrics["heads"] == ["gender"] and 0 <= metrics["gender_acc"] <= 1
    assert "age_mae" not in metrics and "race_acc" not in metrics
    run_dir = project / "face_weights" / "csv"
    with open(run_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 2 and all(float(e["age_loss"]) == 0 and float(e["race_loss"]) == 0 for e in history)
    assert all(float(e["gender_loss"]) > 0 for e in history)
    assert (run_dir / "confusion_gender.png").exists() and not (run_dir / "confusion_race.png").exists()

    output = tmp_path / "eval.json"
    face_train.main(["--evaluate", str(run_dir / "best.keras"), "--data", str(train_csv), "--images", str(train_dir),
                     "--label-column", "gender", "--output", str(output)])
    assert json.loads(output.read_text()) == metrics

    test_ids = [str(i) for i in range(60, 90)]
    test_csv = _write_csv(tmp_path / "task" / "test.csv", ["id"], [[i] for i in test_ids])
    sample_ids = list(reversed(test_ids))
    sample = _write_csv(tmp_path / "task" / "sampleSubmit.csv", ["ID", "Gender"], [[i, 0] for i in sample_ids])
    submission = tmp_path / "submission.csv"
    predict = ["--predict", str(test_csv), "--images", str(train_dir), "--model", str(run_dir / "best.keras"),
               "--output", str(submission), "--sample", str(sample)]
    face_train.main(predict)
    with open(submission) as f:
        written = list(csv.reader(f))
    assert written[0] == ["ID", "Gender"] and [row[0] for row in written[1:]] == sample_ids
    assert {row[1] for row in written[1:]} <= {"0", "1"}

    # An existing submission is kept; a sample with other ids is refused; both in one line, nothing written.
    before = submission.read_bytes()
    other = _write_csv(tmp_path / "task" / "other.csv", ["id", "label"], [[i, 0] for i in test_ids[:-1] + ["x"]])
    for argv, message in ((predict, "submission.csv already exists"),
                          (predict[:-1] + [str(other), "--overwrite"], "hold different ids: 1 only in the sample (x); "
                                                                       "1 only in the test file (89)")):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert submission.read_bytes() == before


def test_repeated_ids_columns_and_paths_outside_the_images_are_refused(tmp_path):
    """Duplicate ids with other labels were both kept, a repeated column's last copy won, ../ and absolute ids were
    read from outside --images."""
    images = tmp_path / "train"
    names = sorted(write_utkface_folder(images, count=4))
    for i, name in enumerate(names):
        (images / name).rename(images / f"{i}.jpg")
    (tmp_path / "outside.jpg").write_bytes((images / "3.jpg").read_bytes())
    table = _write_csv(tmp_path / "train.csv", ["id", "gender"], [
        ["0", "m"], ["0", "f"], ["1", "m"], ["1", "m"], ["2", "f"], ["../outside", "f"],
        [str(tmp_path / "outside.jpg"), "m"]])
    with logged_messages() as messages:
        samples = read_dataset(table, images=images)
    assert [p.split("/")[-1] for p in samples.paths] == ["1.jpg", "2.jpg"]
    assert "line 3: 0 is on line 2 too, with other labels; neither is used" in messages[0]
    assert "line 5: 1 again (line 4)" in messages[0]
    assert "line 7: ../outside is outside the images folder" in messages[0]
    assert "outside.jpg is outside the images folder" in messages[0]
    twice = _write_csv(tmp_path / "twice.csv", ["id", "gender", "gender"], [["0", "m", "f"]])
    with pytest.raises(DataError, match="the column gender appears more than once"):
        read_dataset(twice, images=images)


def test_a_csv_too_small_for_the_split_says_so_in_one_line(project, tmp_path, tiny_model_file, capsys):
    """--evaluate on a 1-row CSV was an IndexError; training said "--limit 200 is too small"."""
    images = tmp_path / "train"
    name = sorted(write_utkface_folder(images, count=1))[0]
    table = _write_csv(tmp_path / "one.csv", ["file", "gender"], [[name, "m"]])
    for argv, message in ((["--evaluate", str(tiny_model_file)], "the test split of "),
                          (["--limit", "200", "--backbone", "simple_cnn", "--weights", "none", "--epochs", "1"],
                           "has 1 usable image(s): the fixed split needs a few dozen")):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(["--data", str(table), "--images", str(images), *argv, "--output", str(tmp_path / "m.json")]
                            if argv[0] == "--evaluate" else ["--data", str(table), "--images", str(images), *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "--limit 200" not in err and "Traceback" not in err


def test_rows_name_their_images_by_path_file_or_id_and_labels_may_be_absent(tmp_path):
    from facekit.data.csv_dataset import is_csv, read_rows
    (tmp_path / "a.jpg").write_bytes(b"")
    table = _write_csv(tmp_path / "test.csv", ["id"], [["a"], ["b"]])
    assert is_csv(table) and not is_csv(tmp_path)
    rows, problems = read_rows(table, labels=False)
    assert [(row.id, row.path) for row in rows] == [("a", str(tmp_path / "a.jpg"))]
    assert len(problems) == 1 and "line 3" in problems[0]
