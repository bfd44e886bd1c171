"""Downloads of published weights (facekit.backbones.pretrained, dlib's in facekit.backbones.dlib_weights): checked,
atomic, and a network that connects but never answers ends in one line within the timeout, not a hang."""
import dataclasses
import hashlib
import time
import urllib.request

import pytest

import face_train
from facekit.backbones import dlib_download, pretrained
from facekit.backbones.registry import BACKBONES
from facekit.core import paths
from facekit.core.errors import ModelError

VGGFACE2 = BACKBONES["vggface2_resnet50"].weights["vggface2"]
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture
def quick_timeout(monkeypatch):
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pretrained, "DOWNLOAD_TIMEOUT_S", 1)
    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen reads the proxy settings once, then keeps them


def test_a_download_is_checked_and_renamed_into_place(served, tmp_path):
    www, base = served
    payload = bytes(range(256)) * 1000
    (www / "weights.h5").write_bytes(payload)
    source = dataclasses.replace(VGGFACE2, file_name="weights.h5", url=f"{base}/weights.h5",
                                 sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    path = pretrained.fetch_weights(source, "the test weights", tmp_path / "weights")
    assert path.read_bytes() == payload and [p.name for p in path.parent.iterdir()] == ["weights.h5"]
    wrong = dataclasses.replace(source, sha256="0" * 64)
    with pytest.raises(ModelError, match="could not download .*sha256 .*expected 0000"):
        pretrained.fetch_weights(wrong, "the test weights", tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []  # no partial file left


def test_vggface2_behind_a_silent_proxy_fails_in_one_line_within_the_timeout(silent_server, quick_timeout,
                                                                              monkeypatch, tmp_path):
    monkeypatch.setenv("https_proxy", silent_server)  # the case: connects, then silence
    start = time.monotonic()
    with pytest.raises(ModelError, match=f"could not download the vggface2 weights .*timed out.* put it at "
                                           f"{tmp_path / VGGFACE2.file_name}") as caught:
        pretrained.fetch_weights(VGGFACE2, "the vggface2 weights", tmp_path)
    assert time.monotonic() - start < 10 and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_dlib_from_a_silent_server_fails_in_one_line_within_the_timeout(silent_server, quick_timeout,
                                                                        monkeypatch, tmp_path):
    monkeypatch.setattr(dlib_download, "DLIB_URL", f"{silent_server}/model.dat.bz2")
    start = time.monotonic()
    with pytest.raises(ModelError, match="could not download dlib's .*timed out") as caught:
        dlib_download.fetch_dlib_weights(tmp_path)
    assert time.monotonic() - start < 10 and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []



def test_training_with_vggface2_offline_stops_before_reading_the_data(silent_server, quick_timeout, monkeypatch,
                                                                      tmp_path, tiny_utkface, capsys):
    """Item 11 too: the weights are fetched (and fail) before the data is scanned; no run folder is left."""
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("https_proxy", silent_server)
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--data", str(tiny_utkface), "--run", "offline", "--backbone", "vggface2_resnet50",
                         "--weights", "vggface2", "--input-size", "32"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1].startswith("error: could not download the vggface2 weights")
    assert "images" not in captured.out and "split" not in captured.out
    assert not (tmp_path / "face_weights" / "offline").exists()
