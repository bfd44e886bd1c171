"""dlib's published face-recognition network: where it is, its checksums, and its checked download
(``facekit.backbones.pretrained``); read by :mod:`facekit.backbones.dlib_dat`, loaded by
:mod:`facekit.backbones.dlib_weights`."""
from pathlib import Path

from facekit.backbones import pretrained
from facekit.backbones.dlib_weights import load_dlib_weights

DLIB_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_URL = f"http://dlib.net/files/{DLIB_FILE}.bz2"
DLIB_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
DLIB_BYTES = 22_466_066
DLIB_BZ2_SHA256 = "abb1f61041e434465855ce81c2bd546e830d28bcbed8d27ffbe5bb408b11553a"
DLIB_BZ2_BYTES = 21_428_389


def weights_source() -> pretrained.WeightsSource:
    """dlib's published network as ``facekit.backbones.pretrained`` fetches it: bzip2-compressed, both sha256s
    checked."""
    return pretrained.WeightsSource(file_name=DLIB_FILE, url=DLIB_URL, sha256=DLIB_SHA256, size=DLIB_BYTES,
                                    load=load_dlib_weights, packed_sha256=DLIB_BZ2_SHA256, packed_size=DLIB_BZ2_BYTES)


def fetch_dlib_weights(directory: str | Path | None = None) -> Path:
    """Path of dlib's published face-recognition network: the local copy if it checks out, else a download."""
    return pretrained.fetch_weights(weights_source(), "dlib's face-recognition network", directory)
