"""A web service and page for the models: upload a photo, see every face's age, gender and race.

    python face_server.py                              # http://127.0.0.1:8000/ the page, /docs the API
    python face_server.py --host 0.0.0.0 --port 8080 --detector yunet --detector-model face_detection_yunet_2023mar.onnx
    curl -F file=@photo.jpg http://127.0.0.1:8000/analyze

``POST /analyze`` answers with the face_demo.py --json entries of every face (boxes in the uploaded image's pixels),
the image size, timings and the model; ``POST /annotate`` with the annotated JPEG; ``GET /health``, ``GET /version``.
Takes the demos' --model and detector options. Errors in the options: one line on stderr, exit status 2.
"""
import argparse

from facekit.apps.cli import (
    add_analyzer_arguments,
    analyzer_options,
    exit_with_error,
    port_number,
    positive_float,
    positive_int,
    setup_logging,
)
from facekit.apps.server import ServerOptions, serve
from facekit.core.errors import FaceKitError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                                                            "only; 0.0.0.0 for every network)")
    parser.add_argument("--port", type=port_number, default=8000, help="default: 8000")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="server processes, each with its own copy of the model (default: 1)")
    parser.add_argument("--max-upload-mb", type=positive_float, default=10,
                        help="larger uploads get 413 (default: 10 MB)")
    add_analyzer_arguments(parser)
    return parser.parse_args(argv)


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The parsed options as the library takes them."""
    return ServerOptions(analyzer_options(args), host=args.host, port=args.port, workers=args.workers,
                         max_upload_mb=args.max_upload_mb, quiet=args.quiet, verbose=args.verbose)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args)
    try:
        serve(server_options(args))
    except FaceKitError as error:
        exit_with_error(error)

