"""The web service through FastAPI's test client: real faces found where they were placed, the same entries as
face_demo.py --json, boxes in the original's pixels when a photo is shrunk, every error status, one model shared
by concurrent requests, /health free while a photo is analysed."""
import io
import json
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, ConfigDict

import face_demo
import face_server
import facekit.infer.analyzer
from facekit.apps import server
from facekit.apps.server import (
    OPTIONS_VARIABLE,
    AnalyzeResponse,
    ErrorResponse,
    app_from_environment,
    app_from_options,
    create_app,
)
from facekit.apps.uploads import MAX_IMAGE_PIXELS, encode_jpeg
from facekit.core import paths
from facekit.infer.results import BoxEntry, FaceEntry, ProbabilitiesEntry
from facekit.vision import images
from facekit.vision.detectors.haar import HaarDetector
from facekit.vision.drawing import BANNER_RGB, BOX_COLOURS_RGB
from facekit.vision.images import read_image, write_image
from facekit.vision.tracking import box_iou
from tests.face_scenes import YUNET_MODEL, assert_landmarks_in_order, compose, make_detector
from tests.logged import logged_messages

DEFAULT_MODEL = paths.default_model(".keras")
DEFAULT_MODEL_NAME = str(DEFAULT_MODEL.relative_to(paths.face_weights_dir()))  # as /version names it
MIN_IOU = 0.5  # as tests/vision/test_detection.py: the placed square is UTKFace's crop, not a detector's box


def served_app(argv):
    """The app face_server.py serves for these command-line options."""
    return app_from_options(face_server.server_options(face_server.parse_args(argv)))


@pytest.fixture(scope="module")
def analyzer():
    return facekit.infer.analyzer.FaceAnalyzer(DEFAULT_MODEL, make_detector("yunet"))


@pytest.fixture(scope="module")
def client(analyzer):
    return TestClient(create_app(analyzer))


def jpeg_file(path, image):
    write_image(path, image)
    return path


def assert_found_where_placed(faces, placed):
    assert len(faces) == len(placed), [face["box"] for face in faces]
    for box in placed:
        boxes = [tuple(face["box"][key] for key in ("x", "y", "width", "height")) for face in faces]
        assert max(box_iou(box, found) for found in boxes) > MIN_IOU, (box, boxes)


def test_faces_found_where_placed_with_the_entries_of_face_demo_json(client, four_faces_scene, tmp_path, capsys):
    image, placed = four_faces_scene
    photo = jpeg_file(tmp_path / "group.jpg", image)
    response = client.post("/analyze", files={"file": ("group.jpg", photo.read_bytes(), "image/jpeg")})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["width"], answer["height"]) == (1000, 700) and "detection_scale" not in answer
    assert answer["model"] == DEFAULT_MODEL_NAME and answer["detector"] == "yunet"
    assert set(answer["timings"]) == {"read", "queue", "detect", "predict", "total"}
    assert answer["timings"]["detect"] > 0 and answer["timings"]["predict"] > 0
    assert_found_where_placed(answer["faces"], placed)
    assert all(round(value, 1) == value for face in answer["faces"] for point in face["landmarks"] for value in point)

    with pytest.raises(SystemExit) as exit_info:
        face_demo.main([str(photo), "--model", str(DEFAULT_MODEL), "--detector", "yunet", "--detector-model",
                        str(YUNET_MODEL), "--output", str(tmp_path / "out"), "--json", str(tmp_path / "faces.json")])
    assert exit_info.value.code == 0
    [entry] = json.loads((tmp_path / "faces.json").read_text())
    assert answer["faces"] == entry["faces"]  # the same entries, key for key and value for value
    assert (answer["width"], answer["height"]) == (entry["width"], entry["height"])

    raw = client.post("/analyze", content=photo.read_bytes(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 200 and raw.json()["faces"] == answer["faces"]


def test_annotate_gives_the_photo_with_boxes_or_a_banner(client, four_faces_scene):
    image, placed = four_faces_scene
    response = client.post("/annotate", files={"photo": ("group.jpg", encode_jpeg(image), "image/jpeg")})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-faces"] == str(len(placed))
    annotated = read_image(response.content).astype(int)
    assert annotated.shape == image.shape
    faces = client.post("/analyze", content=encode_jpeg(image)).json()["faces"]
    for face in faces:  # the left edge of each box, half-way down, in the face's colour (JPEG: roughly)
        x, y, h = face["box"]["x"], face["box"]["y"], face["box"]["height"]
        assert np.abs(annotated[y + h // 2, x] - BOX_COLOURS_RGB[face["gender"]]).max() < 60, face["box"]
    wall = np.full((300, 400, 3), 128, np.uint8)
    empty = client.post("/annotate", content=encode_jpeg(wall))
    assert empty.headers["x-faces"] == "0"
    banner = read_image(empty.content).astype(int)
    assert np.abs(banner[2, 2] - BANNER_RGB).max() < 30 and np.abs(banner[200:] - 128).max() < 10


def test_a_huge_photo_is_shrunk_as_the_demos_read_it_and_answered_in_its_own_pixels(client, monkeypatch):
    """One rule, the demos' (images.MAX_SIDE): a photo over it is read shrunk, boxes come back in its pixels."""
    image, placed = compose((1800, 2400), [(0, 200, 150, 420), (1, 1300, 300, 360), (3, 700, 1100, 500)])
    monkeypatch.setattr(images, "MAX_SIDE", 1200)
    answer = client.post("/analyze", content=encode_jpeg(image)).json()
    assert (answer["width"], answer["height"], answer["detection_scale"]) == (2400, 1800, 0.5)
    annotated = client.post("/annotate", content=encode_jpeg(image))
    assert read_image(annotated.content).shape == (900, 1200, 3)  # drawn on the copy it read
    assert_found_where_placed(answer["faces"], placed)
    for face in answer["faces"]:  # found on the half-size copy, given in the photo's pixels
        assert_landmarks_in_order(tuple(face["box"].values()), face["landmarks"])


def test_a_rotated_phone_photo_is_answered_upright(client, tmp_path):
    image, placed = compose((480, 640), [(2, 220, 140, 200)])
    sideways = Image.fromarray(np.rot90(image, k=1).copy())  # stored turned; EXIF orientation 6 turns it back
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(buffer, format="JPEG", exif=exif, quality=95)
    answer = client.post("/analyze", content=buffer.getvalue()).json()
    assert (answer["width"], answer["height"]) == (640, 480)
    assert_found_where_placed(answer["faces"], placed)


class StrictAnswer(BaseModel):
    """/analyze's declared answer, checked strictly: no key it does not declare (the response model would drop one
    silently), none missing, each value of its type."""

    model_config = ConfigDict(extra="forbid", strict=True)
    answer: AnalyzeResponse


def declared_keys(schema):
    return schema.__required_keys__ | schema.__optional_keys__


def test_the_docs_declare_every_field_of_the_analyze_answer(client):
    schema = client.get("/openapi.json").json()
    answers = schema["paths"]["/analyze"]["post"]["responses"]
    assert answers["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AnalyzeResponse"}
    assert answers["413"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    components = schema["components"]["schemas"]
    for declared in (AnalyzeResponse, FaceEntry, BoxEntry, ProbabilitiesEntry, ErrorResponse):
        assert set(components[declared.__name__]["properties"]) == declared_keys(declared), declared.__name__
        assert set(components[declared.__name__]["required"]) == declared.__required_keys__, declared.__name__
        # each field described in /docs by the docstring under it, inherited fields too
        undescribed = [key for key, prop in components[declared.__name__]["properties"].items()
                       if not prop.get("description")]
        assert not undescribed, (declared.__name__, undescribed)
    assert declared_keys(AnalyzeResponse) == {"width", "height", "detection_scale", "faces", "model", "detector",
                                              "timings"}
    assert {"box", "score", "landmarks", "age", "age_std", "gender", "gender_probability", "race", "race_probability",
            "probabilities", "track"} == declared_keys(FaceEntry)
    assert components["AnalyzeResponse"]["properties"]["faces"]["items"] == {"$ref": "#/components/schemas/FaceEntry"}


def test_real_answers_are_the_declared_shape_and_the_response_model_drops_nothing(client, monkeypatch):
    """A photo read whole and one shrunk (detection_scale): the service's own entry has exactly the declared keys,
    and what goes out over HTTP is that entry, unchanged."""
    image, _ = compose((600, 800), [(0, 100, 120, 220), (1, 480, 160, 200)])
    data = encode_jpeg(image)
    for max_side in (images.MAX_SIDE, 400):
        monkeypatch.setattr(images, "MAX_SIDE", max_side)
        entry = client.app.state.service.analyze(data)
        StrictAnswer(answer=entry)
        assert len(entry["faces"]) == 2 and ("detection_scale" in entry) == (max_side == 400)
        answer = client.post("/analyze", content=data).json()
        assert {key: answer[key] for key in answer if key != "timings"} == \
            {key: entry[key] for key in entry if key != "timings"}
        assert set(answer["timings"]) == set(entry["timings"])


class StubAnalyzer:
    """Stands in for FaceAnalyzer where its output does not matter: records how many calls overlap, and can hold a
    call until ``release`` is set."""

    def __init__(self, hold=False, seconds=0.0):
        self.detector, self.model, self.model_path = HaarDetector(), SimpleNamespace(name="stub"), None
        self.entered, self.release = threading.Event(), threading.Event()
        self.hold, self.seconds = hold, seconds
        self.calls = self.inside = self.most_inside = 0
        self.count_lock = threading.Lock()

    def analyze(self, image, timings=None):
        with self.count_lock:
            self.calls += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.set()
        if self.hold:
            self.release.wait(timeout=30)
        time.sleep(self.seconds)
        with self.count_lock:
            self.inside -= 1
        return []


def small_jpeg():
    return encode_jpeg(np.full((60, 80, 3), 100, np.uint8))


def test_a_slow_photo_does_not_hold_up_health_checks():
    stub = StubAnalyzer(hold=True)
    client = TestClient(create_app(stub)).__enter__()  # one event loop for every request, as in a real server
    answers = []
    worker = threading.Thread(target=lambda: answers.append(client.post("/analyze", content=small_jpeg())))
    worker.start()
    try:
        assert stub.entered.wait(timeout=30)
        start = time.monotonic()
        health = client.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert time.monotonic() - start < 5 and worker.is_alive()  # answered while the photo is still held
    finally:
        stub.release.set()
        worker.join(timeout=30)
        client.__exit__(None, None, None)
    assert answers[0].status_code == 200 and answers[0].json()["faces"] == []


def test_concurrent_requests_share_one_analyzer_one_at_a_time():
    stub = StubAnalyzer(seconds=0.05)
    answers = []
    with TestClient(create_app(stub)) as client:  # one event loop for every request, as in a real server
        threads = [threading.Thread(target=lambda: answers.append(client.post("/analyze", content=small_jpeg())))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert [a.status_code for a in answers] == [200] * 8
    assert stub.calls == 8 and stub.most_inside == 1


def test_the_model_is_loaded_once_for_many_requests(tiny_model_file, monkeypatch):
    made = []
    real_init = facekit.infer.analyzer.FaceAnalyzer.__init__
    monkeypatch.setattr(facekit.infer.analyzer.FaceAnalyzer, "__init__",
                        lambda self, *args, **kwargs: made.append(args) or real_init(self, *args, **kwargs))
    app = served_app(["--model", str(tiny_model_file), "--detector", "haar"])
    client = TestClient(app)
    for _ in range(3):
        assert client.post("/analyze", content=small_jpeg()).status_code == 200
    assert len(made) == 1
    version = client.get("/version").json()
    assert version["model"] == "tiny.keras" and version["detector"] == "haar" and version["metrics"] is None


def test_workers_build_their_app_from_the_options_passed_in_the_environment(tiny_model_file, monkeypatch):
    """--workers 2: uvicorn gets the factory, and each worker's app has the options given on the command line."""
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, **options))
    monkeypatch.setenv(OPTIONS_VARIABLE, "")  # restored afterwards: serve sets it
    face_server.main(["--model", str(tiny_model_file), "--detector", "haar", "--workers", "2",
                      "--max-upload-mb", "3"])
    assert started["app"] == "facekit.apps.server:app_from_environment" and started["factory"] is True
    assert started["workers"] == 2
    version = TestClient(app_from_environment()).get("/version").json()
    assert version["model"] == "tiny.keras" and version["detector"] == "haar"
    assert version["max_upload_bytes"] == 3_000_000


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_a_malformed_metrics_json_is_ignored_with_a_warning(text, tiny_model_file, tmp_path, caplog):
    model = tmp_path / "tiny.keras"
    model.write_bytes(tiny_model_file.read_bytes())
    (tmp_path / "metrics.json").write_text(text)
    version = TestClient(served_app(["--model", str(model), "--detector", "haar"])
                         ).get("/version").json()
    assert version["model"] == "tiny.keras" and version["metrics"] is None
    assert "metrics.json: ignored" in caplog.text


def test_version_names_the_model_its_test_metrics_and_the_detector(client):
    version = client.get("/version").json()
    assert version["model"] == DEFAULT_MODEL_NAME and version["detector"] == "yunet"
    metrics = json.loads((DEFAULT_MODEL.parent / "metrics.json").read_text())
    assert version["metrics"]["age_mae"] == metrics["age_mae"] and version["metrics"]["n_test"] == metrics["n_test"]
    assert version["max_upload_bytes"] == 10_000_000 and version["max_side"] == images.MAX_SIDE


def multipart(fields):
    """A multipart/form-data body of text fields only."""
    boundary = "facekit-test-boundary"
    parts = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                    for name, value in fields.items())
    return (parts + f"--{boundary}--\r\n").encode(), {"content-type": f"multipart/form-data; boundary={boundary}"}


def huge_png():
    buffer = io.BytesIO()
    Image.new("RGB", (1500, 1000), (90, 90, 90)).save(buffer, format="PNG")  # 1.5 megapixels in a few KB
    return buffer.getvalue()


ERRORS = {
    "empty body": (lambda: {"content": b""}, 400, "empty upload"),
    "not an image": (lambda: {"content": b"GIF? no, just text\n" * 10}, 400, "not an image"),
    "truncated JPEG": (lambda: {"content": small_jpeg()[:300]}, 400, "cannot read image"),
    "empty file in a form": (lambda: {"files": {"file": ("a.jpg", b"", "image/jpeg")}}, 400, "empty upload"),
    "form without a file": (lambda: dict(zip(("content", "headers"), multipart({"name": "x"}))), 400, "no file"),
    "raw body over the limit": (lambda: {"content": b"\xff" * 20_001}, 413, "upload too large"),
    "form file over the limit": (lambda: {"files": {"file": ("a.jpg", b"\xff" * 20_001)}}, 413, "upload too large"),
    "over the pixel limit": (lambda: {"content": huge_png()}, 413, "1500 x 1000 pixels"),
}


@pytest.mark.parametrize("route", ["/analyze", "/annotate"])
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_bad_upload_gets_its_status_and_one_line_of_json(case, route):
    stub = StubAnalyzer()
    client = TestClient(create_app(stub, max_upload_bytes=20_000, max_image_pixels=1_000_000))
    request, status, message = ERRORS[case]
    response = client.post(route, **request())
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"] and message in body["error"] and "\n" not in body["error"]
    assert stub.calls == 0


def test_a_fault_inside_the_analyzer_is_a_500_with_one_line_and_no_internals(caplog):
    """The body carried OpenCV's assertion and its source path; they belong in the server's log only."""
    stub = StubAnalyzer()

    def fails(image, timings=None):
        raise RuntimeError("OpenCV(4.14.0) /io/opencv/modules/imgproc/src/resize.cpp:4020: error: (-215)")

    stub.analyze = fails
    client = TestClient(create_app(stub), raise_server_exceptions=False)
    response = client.post("/analyze", content=small_jpeg())
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError); the server's log has the details"}
    assert "resize.cpp" in caplog.text


def test_version_gives_no_path_of_this_machine(tiny_model_file, tmp_path):
    model = tmp_path / "tiny.keras"
    model.write_bytes(tiny_model_file.read_bytes())
    (tmp_path / "metrics.json").write_text(json.dumps({"age_mae": 4.5, "data": "/home/someone/UTKFace",
                                                       "split": "test"}))
    version = TestClient(served_app(["--model", str(model), "--detector", "haar"])
                         ).get("/version").json()
    assert str(tmp_path) not in json.dumps(version) and "/home/someone" not in json.dumps(version)
    assert version["model"] == "tiny.keras" and version["metrics"] == {"age_mae": 4.5, "split": "test"}


def test_head_health_answers_200():
    assert TestClient(create_app(StubAnalyzer())).head("/health").status_code == 200


def test_the_413_messages_give_the_limits_that_apply():
    client = TestClient(create_app(StubAnalyzer(), max_upload_bytes=20_000))
    form = client.post("/analyze", files={"file": ("a.jpg", b"\xff" * 90_000)})
    assert form.status_code == 413 and form.json()["error"] == "upload too large: over 20,000 bytes"
    buffer = io.BytesIO()
    Image.new("1", (14_000, 14_000)).save(buffer, format="PNG")  # over twice Pillow's limit: its bomb error
    bomb = TestClient(create_app(StubAnalyzer())).post("/analyze", content=buffer.getvalue())
    assert bomb.status_code == 413 and f"over {MAX_IMAGE_PIXELS:,}" in bomb.json()["error"]  # said twice that


def test_photos_are_read_a_bounded_number_at_once(monkeypatch):
    """Every upload was decoded at once: 20 large PNGs in parallel took 16.5 GB (benchmarks/bench_server.py)."""
    inside, most, lock = [0], [0], threading.Lock()
    real_read = server.read_upload

    def counted(data, max_pixels):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return real_read(data, max_pixels)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(server, "read_upload", counted)
    client = TestClient(create_app(StubAnalyzer()))
    threads = [threading.Thread(target=client.post, args=("/analyze",), kwargs={"content": small_jpeg()})
               for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= most[0] <= server.MAX_DECODES


@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_a_port_out_of_range_is_refused(port, capsys):
    """--port 99999 listened on another port (99999 mod 65536) while announcing 99999."""
    with pytest.raises(SystemExit) as exit_info:
        face_server.parse_args(["--port", port])
    assert exit_info.value.code == 2 and "must be a port number from 1 to 65535" in capsys.readouterr().err


def test_a_port_in_use_is_one_line_before_the_model_loads(monkeypatch, capsys):
    monkeypatch.setattr(server, "app_from_options", lambda options: pytest.fail("loaded the model"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as exit_info:
            face_server.main(["--port", str(taken.getsockname()[1])])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: cannot listen on 127.0.0.1:") and err.count("\n") == 1


def test_upload_limit_is_enforced_on_the_bytes_not_on_content_length():
    client = TestClient(create_app(StubAnalyzer(), max_upload_bytes=5000))
    declared = client.post("/analyze", content=b"\xff" * 10, headers={"content-length": "99999999"})
    assert declared.status_code == 413  # refused before reading: never waits for 99 MB
    streamed = client.post("/analyze", content=iter([b"\xff" * 4000, b"\xff" * 4000]))  # chunked, no length
    assert streamed.status_code == 413 and streamed.json()["error"].startswith("upload too large")


def test_wrong_routes_and_methods_answer_in_the_same_json():
    client = TestClient(create_app(StubAnalyzer()))
    assert client.get("/nowhere").status_code == 404 and client.get("/nowhere").json() == {"error": "Not Found"}
    assert client.get("/analyze").status_code == 405 and list(client.get("/analyze").json()) == ["error"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert "/analyze" in client.get("/openapi.json").json()["paths"] and client.get("/docs").status_code == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bad_option_is_one_line_and_exit_status_2(workers, tmp_path, capsys, monkeypatch):
    def no_server(*args, **kwargs):  # workers that fail to start would be restarted for ever
        raise AssertionError("uvicorn started with a bad option")
    monkeypatch.setattr(uvicorn, "run", no_server)
    with pytest.raises(SystemExit) as exit_info:
        face_server.main(["--model", str(tmp_path / "missing.keras"), "--detector", "haar", "--workers", workers])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "missing.keras" in err[0]


@pytest.mark.parametrize("value", ["inf", "nan", "0"])
def test_max_upload_mb_must_be_a_finite_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        face_server.parse_args(["--max-upload-mb", value])
    assert exit_info.value.code == 2 and f"must be more than 0, not {value}" in capsys.readouterr().err


def test_a_multipart_media_type_in_capitals_is_a_form(client):
    """Media types are case-insensitive: MULTIPART/FORM-DATA was answered 400 "not an image" (issue 28)."""
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + small_jpeg() + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/analyze", content=body,
                           headers={"content-type": f"MULTIPART/FORM-DATA; boundary={boundary}"})
    assert response.status_code == 200 and response.json()["faces"] == []


def test_a_client_that_disconnects_mid_upload_is_one_line_not_a_traceback():
    """Each disconnected client wrote two tracebacks to the server's log (issue 28): upload_bytes says why, once."""
    import asyncio

    from starlette.requests import Request

    from facekit.apps.server import upload_bytes
    from facekit.apps.uploads import UploadError

    messages = iter([{"type": "http.request", "body": b"\xff\xd8" * 100, "more_body": True},
                     {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    request = Request({"type": "http", "method": "POST", "headers": [(b"content-type", b"image/jpeg")]}, receive)
    with logged_messages() as logged, pytest.raises(UploadError, match="disconnected before the upload ended"):
        asyncio.run(upload_bytes(request, 1_000_000))
    assert logged == ["a client disconnected during its upload (200 bytes received)"]
