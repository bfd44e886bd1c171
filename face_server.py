"""A web service and page for the models: upload a photo, see every face's age, gender and race.

    python face_server.py                              # http://127.0.0.1:8000/ the page, /docs the API
    python face_server.py --host 0.0.0.0 --port 8080 --detector yunet --detector-model face_detection_yunet_2023mar.onnx
    curl -F file=@photo.jpg http://127.0.0.1:8000/analyze

``POST /analyze`` answers with the face_demo.py --json entries of every face (boxes in the uploaded image's pixels),
the image size, timings and the model; ``POST /annotate`` with the annotated JPEG; ``GET /health``, ``GET /version``.
Takes the demos' --model and detector options. Errors in the options: one line on stderr, exit status 2.
"""
from facekit.apps.cli import run_script
from facekit.apps.server_command import main, parse_args, server_options

__all__ = ["main", "parse_args", "server_options"]

if __name__ == "__main__":
    run_script(main)
