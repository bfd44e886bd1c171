"""The web service: a photo in, every face's age, gender and race out (JSON or an annotated JPEG), and the page at /.

    app = create_app(FaceAnalyzer(...))      # any analyzer facekit accepts; face_server.py builds it from options

Routes: ``POST /analyze`` (an image as a multipart upload, any field name, or as the raw body) -> the
``face_demo.py --json`` entries of its faces, the image size and timings; ``POST /annotate`` -> the annotated JPEG;
``GET /health``; ``GET /version``; ``GET /`` the page (facekit/apps/static/); ``/docs`` the OpenAPI docs.

The model is loaded once, before the app is made; requests never load it. Reading and drawing run in worker
threads, and the analyzer, which is not safe to share between threads, runs under one lock: requests queue for it
while the event loop stays free, so a slow photo never holds up /health. Errors are one line of JSON,
``{"error": "..."}``: 400 for an empty, non-image or truncated upload, 413 for one over the size or pixel limit.
/analyze's answer is declared (``AnalyzeResponse``: the photo's entry of facekit.infer.results and the service's
fields), so /docs shows its schema and every answer is checked against it.
"""
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from typing_extensions import TypedDict  # pydantic takes TypedDicts from here before Python 3.12

from facekit.apps.cli import analyzer_from_options, setup_logging
from facekit.apps.uploads import (
    MAX_IMAGE_PIXELS,
    MAX_UPLOAD_BYTES,
    Photo,
    UploadError,
    check_size,
    encode_jpeg,
    read_upload,
    release_memory,
)
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.infer.options import AnalyzerOptions
from facekit.infer.results import FaceResult, PhotoEntry, documented_fields, photo_entry
from facekit.vision.detectors import spec_of
from facekit.vision.drawing import annotate_photo
from facekit.vision.images import MAX_SIDE

STATIC = Path(__file__).with_name("static")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file in a form upload
# Uploads read and held at once (decoded, analysed, drawn); the others wait to be read. Decoding the largest
# accepted image (Pillow's 89 megapixels, shrunk to images.MAX_SIDE as it is read) peaks at about 0.5 GB, so this
# bounds the service's memory near 1 GB more than its model, whatever the number of clients
# (benchmarks/bench_server.py measures it).
MAX_DECODES = 2
log = logging.getLogger("facekit.apps.server")

IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                 "format": "binary"}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}}
Answer = TypeVar("Answer")


class AnalyzeResponse(PhotoEntry):
    """/analyze's answer: the photo's entry as face_demo.py --json writes it, the model and detector that found its
    faces, and where the time went."""

    model: str
    """The model's name, as /version gives it."""
    detector: str
    """The face detector's name."""
    timings: dict[str, float]
    """Seconds spent reading the upload, queueing for the model, detecting, predicting, and in all (read, queue,
    detect, predict, total)."""


class ErrorResponse(TypedDict):
    """Every error's answer."""

    error: str
    """What was wrong, in one line."""


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "An empty, non-image or truncated upload"},
    413: {"model": ErrorResponse, "description": "An upload over the size or pixel limit"},
}


class ModelInfo(TypedDict):
    """What /version says of the model."""

    model: str
    """Its name: default/NAME for the shipped default, RUN/best.keras for a run of face_weights/, else its file's."""
    metrics: dict[str, Any] | None
    """Its test-split metrics (its metrics.json); null without one."""


documented_fields(AnalyzeResponse, ErrorResponse)


class Analyzer(Protocol):
    """What the service needs of its analyzer (``facekit.FaceAnalyzer`` is one): ``analyze`` with timings, its
    detector and model; ``model_path``, the file the model came from, when it has one."""

    @property
    def detector(self) -> Any: ...

    @property
    def model(self) -> Any: ...

    def analyze(self, image: np.ndarray, timings: dict[str, float] | None = None) -> list[FaceResult]: ...


def model_info(analyzer: Analyzer) -> ModelInfo:
    """What /version says of the model: its file and, from metrics.json beside it, its test-split metrics."""
    path = getattr(analyzer, "model_path", None) or getattr(analyzer.model, "path", None)
    if path is None:
        return {"model": getattr(analyzer.model, "name", "model"), "metrics": None}
    path = Path(path)
    return {"model": model_name(path), "metrics": read_metrics(path.with_name("metrics.json"))}


def model_name(path: Path) -> str:
    """A model file as /version names it: default/NAME for the shipped default (in a checkout or in the package),
    RUN/best.keras under face_weights/, else the file's name."""
    folder = path.resolve().parent
    if folder in {(paths.PROJECT_ROOT / paths.DEFAULT_MODEL_FOLDER).resolve(), paths.PACKAGED_DEFAULT_MODEL.resolve()}:
        return f"default/{path.name}"
    try:
        return str(path.resolve().relative_to(paths.face_weights_dir().resolve()))
    except ValueError:
        return path.name


def read_metrics(metrics_file: Path) -> dict[str, Any] | None:
    """The plain numbers and names of a model's metrics.json, without paths (this machine's folders are nobody's
    business); None without one, or with a warning when it is not a JSON object (the service starts all the same:
    the file only feeds /version)."""
    if not metrics_file.is_file():
        return None
    try:
        scores = json.loads(metrics_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("%s: ignored, not readable JSON (%s)", metrics_file, error)
        return None
    if not isinstance(scores, dict):
        log.warning("%s: ignored, not a JSON object", metrics_file)
        return None
    return {key: value for key, value in scores.items() if not isinstance(value, (dict, list))
            and not (isinstance(value, str) and ("/" in value or "\\" in value))}


class Service:
    """The analyzer behind its lock, and the work of one request, done in a worker thread."""

    def __init__(self, analyzer: Analyzer, max_upload_bytes: int, max_image_pixels: int,
                 max_decodes: int = MAX_DECODES) -> None:
        self.analyzer = analyzer
        self.lock = threading.Lock()
        self.decoding = threading.BoundedSemaphore(max_decodes)  # photos read and held at once: bounds the memory
        self.max_upload_bytes = max_upload_bytes
        self.max_image_pixels = max_image_pixels
        self.detector = spec_of(analyzer.detector).name
        self.info = model_info(analyzer)

    def analyze(self, data: bytes) -> AnalyzeResponse:
        """Upload bytes -> the response's JSON."""
        return self._served(data, lambda photo, faces, result: result)

    def annotate(self, data: bytes) -> tuple[bytes, int]:
        """Upload bytes -> (the annotated JPEG, the number of faces): drawn on the photo as read."""
        return self._served(data, lambda photo, faces, result: (encode_jpeg(annotate_photo(photo.image, faces)),
                                                                 len(faces)))

    def _served(self, data: bytes, answer: Callable[[Photo, list[FaceResult], AnalyzeResponse], Answer]) -> Answer:
        """``answer(photo, faces, result)`` for an upload. At most ``max_decodes`` photos are read and held at once
        (the others wait to be read), and the memory of each is handed back once its answer is made."""
        try:
            with self.decoding:
                return answer(*self._analyzed(data))
        finally:
            release_memory()

    def _analyzed(self, data: bytes) -> tuple[Photo, list[FaceResult], AnalyzeResponse]:
        """Upload bytes -> (the Photo, its faces in the original's pixels, the response's JSON)."""
        start = time.perf_counter()
        photo = read_upload(data, self.max_image_pixels)
        timings = {"read": time.perf_counter() - start}
        waited = time.perf_counter()
        with self.lock:
            timings["queue"] = time.perf_counter() - waited
            faces = self.analyzer.analyze(photo.image, timings)
        timings["total"] = time.perf_counter() - start
        result: AnalyzeResponse = {**photo_entry(faces, photo.image, (photo.width, photo.height)),  # as --json
                                   "model": self.info["model"], "detector": self.detector,
                                   "timings": {key: round(value, 4) for key, value in timings.items()}}
        return photo, faces, result


async def upload_bytes(request: Request, limit: int) -> bytes:
    """The image of a request: the file of a multipart form (its first file field) or the raw body. Reads at most
    the limit (and a form's overhead) before refusing with 413, whatever Content-Length claims."""
    is_form = request.headers.get("content-type", "").lower().startswith("multipart/form-data")  # case-insensitive
    cap = limit + (MULTIPART_OVERHEAD if is_form else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        check_size(int(declared), cap, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            check_size(size, cap, limit)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer: one line in the log, not two tracebacks
        log.info(f"a client disconnected during its upload ({size:,} bytes received)")
        raise UploadError("the client disconnected before the upload ended") from None
    body = b"".join(chunks)
    if not is_form:
        check_size(len(body), limit)
        return body

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(request.headers, replay(), max_files=1, max_fields=16).parse()
    except MultiPartException as error:
        raise UploadError(f"bad multipart form: {error.message}") from error
    files = [value for value in form.values() if isinstance(value, UploadFile)]
    if not files:
        raise UploadError("no file in the form: send the image as a file field (e.g. curl -F file=@photo.jpg)")
    data = await files[0].read()
    await form.close()
    check_size(len(data), limit)
    return data


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(analyzer: Analyzer, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_image_pixels: int = MAX_IMAGE_PIXELS) -> FastAPI:
    """The FastAPI app around a loaded analyzer (``facekit.FaceAnalyzer`` or anything with its ``analyze``,
    ``detector`` and ``model``)."""
    service = Service(analyzer, max_upload_bytes, max_image_pixels)
    app = FastAPI(title="facekit", summary="Age, gender and race of every face in a photo",
                  description=f"Uploads up to {max_upload_bytes:,} bytes; photos over {MAX_SIDE} pixels a side "
                              "are shrunk as they are read, with boxes reported in the original's pixels.")
    app.state.service = service

    @app.exception_handler(UploadError)
    async def refused(request: Request, error: UploadError) -> JSONResponse:
        return error_response(error.status, str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:  # 404, 405: the same JSON
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("error while serving %s", request.url.path)  # the details stay in the server's log
        return error_response(500, f"internal error ({type(error).__name__}); the server's log has the details")

    @app.post("/analyze", openapi_extra=IMAGE_BODY, response_model=AnalyzeResponse, responses=ERRORS,
              summary="Every face's box, landmarks, age, gender, race and probabilities (face_demo.py --json)")
    async def analyze(request: Request) -> AnalyzeResponse:
        data = await upload_bytes(request, service.max_upload_bytes)
        return await run_in_threadpool(service.analyze, data)

    @app.post("/annotate", openapi_extra=IMAGE_BODY, response_class=Response,
              responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
              summary="The photo with boxes and labels, as JPEG")
    async def annotate(request: Request) -> Response:
        data = await upload_bytes(request, service.max_upload_bytes)
        jpeg, count = await run_in_threadpool(service.annotate, data)
        return Response(jpeg, media_type="image/jpeg", headers={"X-Faces": str(count)})

    @app.get("/health", summary="Answers at once, even while photos are being analysed")
    @app.head("/health", include_in_schema=False)  # in the docs once: one route of two methods gives two same IDs
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/version", summary="The model file, its test-split metrics, the detector and the limits")
    async def version() -> dict[str, Any]:
        return {**service.info, "detector": service.detector, "max_upload_bytes": service.max_upload_bytes,
                "max_side": MAX_SIDE}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@dataclass(frozen=True)
class ServerOptions:
    """face_server.py's options as data: where to listen, how many processes, the upload limit, the analyzer's
    options (facekit.infer.options) and how much to log. Worker processes get them as JSON (``OPTIONS_VARIABLE``)."""

    analyzer: AnalyzerOptions = field(default_factory=AnalyzerOptions)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_upload_mb: float = 10.0
    quiet: bool = False
    verbose: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServerOptions":
        values = json.loads(text)
        return cls(**{**values, "analyzer": AnalyzerOptions.from_dict(values["analyzer"])})


# Options travel to uvicorn's worker processes (--workers > 1) in this environment variable, as JSON.
OPTIONS_VARIABLE = "FACEKIT_SERVER_OPTIONS"


def app_from_options(options: ServerOptions) -> FastAPI:
    """The app for face_server.py's options: the analyzer built as the demos build theirs (facekit.apps.cli)."""
    analyzer = analyzer_from_options(options.analyzer)
    return create_app(analyzer, max_upload_bytes=int(options.max_upload_mb * 1e6))


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each worker process: the options face_server.py put in FACEKIT_SERVER_OPTIONS (the log
    messages shown as in the first process, -q / -v included)."""
    options = ServerOptions.from_json(os.environ[OPTIONS_VARIABLE])
    setup_logging(options)
    return app_from_options(options)


def check_address(host: str, port: int) -> None:
    """FaceKitError unless this process can listen on ``host``:``port`` (bound and released at once, with the
    SO_REUSEADDR uvicorn uses)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, protocol) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except (OSError, OverflowError) as error:
        raise FaceKitError(f"cannot listen on {host}:{port}: {getattr(error, 'strerror', None) or error}") from error


def serve(options: ServerOptions) -> None:
    """Runs uvicorn: in this process with one worker (the model is loaded before the port is opened, so a bad
    option fails at once), or in ``options.workers`` processes, each loading the model once (after a check here)."""
    check_address(options.host, options.port)  # before the model loads: a port in use is one line, not uvicorn's
    if options.workers == 1:
        uvicorn.run(app_from_options(options), host=options.host, port=options.port, log_level="info")
        return
    # A worker that fails to start prints a traceback and is started again, for ever: the options are checked here
    # first, by building the analyzer once in this process, so that a bad one is one line and exit status 2.
    app_from_options(options)
    os.environ[OPTIONS_VARIABLE] = options.to_json()
    uvicorn.run("facekit.apps.server:app_from_environment", factory=True, workers=options.workers, host=options.host,
                port=options.port, log_level="info")
