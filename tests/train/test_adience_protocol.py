"""--protocol adience-5fold (facekit/train/adience_protocol.py): the folds' scores summarised; the protocol file's
place."""
import pytest

from facekit.core import paths
from facekit.train.adience_protocol import SCORES, protocol_file, summarize


def test_mean_and_std_over_the_folds_that_have_each_score():
    per_fold = [{"age_group_exact": 0.5, "gender_acc": 0.8}, {"age_group_exact": 0.7, "gender_acc": 0.9},
                {"age_group_exact": 0.6}]
    summary = summarize(per_fold)
    assert set(summary) == {"age_group_exact", "gender_acc"} <= set(SCORES)  # no fold has age_group_1off
    assert summary["age_group_exact"] == {"mean": 0.6, "std": pytest.approx(0.0816, abs=1e-4),
                                          "folds": [0.5, 0.7, 0.6]}
    assert summary["gender_acc"]["mean"] == 0.85


def test_the_protocol_file_is_in_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    assert protocol_file("lh") == tmp_path / "face_weights" / "lh" / "protocol.json"
