"""What the command-line scripts share: argument types, the model and detector options, one-line errors, and the
handler that shows the library's log messages (-q, -v)."""
import argparse
import logging
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import NoReturn, TypeVar

from PIL import Image

from facekit.core import paths
from facekit.infer.analyzer import FaceAnalyzer
from facekit.infer.ensemble import METHODS
from facekit.infer.options import AnalyzerOptions
from facekit.infer.tta import TTA
from facekit.vision.detectors import DEFAULT_DETECTOR, DETECTORS
from facekit.vision.detectors.yunet import YuNetDetector

logger = logging.getLogger(__name__)
Number = TypeVar("Number", int, float)

# The demos read panoramas and scans far over Pillow's default limit of 89 megapixels (refused over 179); this is
# theirs: a warning never, a refusal over twice this.
LARGE_IMAGE_PIXELS = 500_000_000


class ConsoleHandler(logging.Handler):
    """The library's messages as the scripts printed them: the text alone, information on stdout, warnings and
    errors on stderr. The stream is looked up at each message, so output redirected later (tests) still gets it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging's own rule: a message that cannot be shown never stops the program
            self.handleError(record)


def add_verbosity_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="show only warnings and errors")
    group.add_argument("-v", "--verbose", action="store_true", help="also show debugging messages")


def setup_logging(args: object = None) -> None:
    """What every script does first: the ``facekit`` loggers' messages shown by one ConsoleHandler, at the level
    that ``-q`` / ``-v`` (``add_verbosity_arguments``) choose (default: information). Called again, it replaces the
    handler rather than adding a second."""
    level = logging.INFO
    if getattr(args, "quiet", False):
        level = logging.WARNING
    elif getattr(args, "verbose", False):
        level = logging.DEBUG
    package = logging.getLogger("facekit")
    for handler in [h for h in package.handlers if isinstance(h, ConsoleHandler)]:
        package.removeHandler(handler)
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    package.setLevel(level)


def run_script(main: Callable[[], object]) -> None:
    """A script's ``main()`` as its command runs it: a failure's exit leaves at once, without the interpreter's
    shutdown, whose finalisers can crash after a failed write (h5py closing a half-written checkpoint on a full disk
    printed two tracebacks and died of a segmentation fault). What matters is written by then: outputs atomically,
    the one-line error, the log (flushed here)."""
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if code == 0:
            raise
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def exit_with_error(error: BaseException) -> NoReturn:
    """What every script does with a FaceKitError: one line on stderr, exit status 2. With -v (debugging messages
    shown) the chain of causes comes first: the library raises its errors ``from`` the one that caused them."""
    if logging.getLogger("facekit").isEnabledFor(logging.DEBUG):
        print("".join(traceback.format_exception(error)).rstrip(), file=sys.stderr)
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def _number(name: str, convert: Callable[[str], Number], accepts: Callable[[Number], bool],
            requirement: str) -> Callable[[str], Number]:
    """An argparse type: ``convert(text)``, refused with "must be REQUIREMENT" unless finite and ``accepts`` it."""
    def parse(text: str) -> Number:
        value = convert(text)
        if not math.isfinite(value) or not accepts(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, not {text}")
        return value
    parse.__name__ = name  # argparse names the type in "invalid NAME value"
    return parse


positive_int = _number("positive_int", int, lambda value: value >= 1, "1 or more")
positive_float = _number("positive_float", float, lambda value: value > 0, "more than 0")
non_negative_float = _number("non_negative_float", float, lambda value: value >= 0, "0 or more")
probability = _number("probability", float, lambda value: 0 <= value <= 1, "between 0 and 1")
past_weight = _number("past_weight", float, lambda value: 0 <= value < 1, "at least 0 and less than 1")
finite_float = _number("finite_float", float, lambda value: True, "a finite number")
port_number = _number("port_number", int, lambda value: 1 <= value <= 65535, "a port number from 1 to 65535")


def allow_large_images() -> None:
    """Raises Pillow's process-wide limit against decompression bombs to LARGE_IMAGE_PIXELS: for the demos'
    ``main``, which own their process, not for library code."""
    Image.MAX_IMAGE_PIXELS = LARGE_IMAGE_PIXELS
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def add_prediction_arguments(parser: argparse.ArgumentParser, models: str = "--model", fit: bool = False) -> None:
    """``--ensemble``, ``--ensemble-weights`` and ``--tta``: how the demos (``--model``) and evaluation
    (``face_train.py --evaluate``, which can also ``fit`` the weights) combine models and variants of each face."""
    parser.add_argument("--ensemble", choices=METHODS, default="mean",
                        help=f"with several {models}: mean or weighted probabilities, or a majority vote for gender "
                             "and race (age averaged)")
    fitted = ("; fit: with --ensemble weighted, fitted per head on the validation split (lowest age MAE, gender and "
              "race log-loss), printed and recorded") if fit else \
        ", as face_train.py --evaluate ... --ensemble-weights fit prints them"
    parser.add_argument("--ensemble-weights", nargs="+", metavar="W",
                        help="one weight per model (with --ensemble weighted or vote), or per head "
                             f"(age=W1,W2,... gender=... race=...){fitted}")
    parser.add_argument("--tta", choices=TTA, default="none",
                        help="test-time augmentation, probabilities averaged: flip, each face and its mirror image "
                             "(twice the prediction time); crops, the face and its four corner crops (5 times); "
                             "flip+crops, those and their mirrors (10 times)")


def add_analyzer_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, detector and crop options of the demos and the server (``analyzer_options``), and -q / -v."""
    add_verbosity_arguments(parser)
    with_files = [name for name, spec in DETECTORS.items() if spec.needs_model_file and spec.bundled_model is None]
    parser.add_argument("--model", default=None, nargs="+",
                        help=".keras, .tflite or .onnx model (default: the shipped "
                             f"{paths.default_model().name}); several: an ensemble")
    add_prediction_arguments(parser)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS),
                        help=f"face detector (default: {DEFAULT_DETECTOR}; "
                             f"{' and '.join(with_files)} need --detector-model)")
    parser.add_argument("--detector-model", default=None, metavar="PATH",
                        help="model file of the ssd (.pb, with its .pbtxt beside it) or yunet (.onnx; default: the "
                             "one shipped with facekit) detector")
    parser.add_argument("--min-score", type=finite_float, default=None,
                        help="detection confidence threshold (default: the detector's own)")
    parser.add_argument("--min-face", type=positive_int, default=None, metavar="PX",
                        help="the smallest face wanted, pixels high: yunet searches each photo at the resolution "
                             "that still finds it, faster for larger values, and may miss smaller faces (default: "
                             f"{YuNetDetector.DEFAULT_MIN_FACE}; {YuNetDetector.RELIABLE_FACE} or less: full "
                             "resolution); mtcnn and haar: their smallest face (default 20)")
    parser.add_argument("--crop-scale", type=positive_float, default=1.0,
                        help="face crop size relative to the measured training-like crop (>1: more margin)")


def analyzer_options(args: argparse.Namespace) -> AnalyzerOptions:
    """The options ``add_analyzer_arguments`` parsed, as the library takes them: the one place a Namespace becomes
    options."""
    return AnalyzerOptions(model=args.model, detector=args.detector, detector_model=args.detector_model,
                           min_score=args.min_score, min_face=args.min_face, crop_scale=args.crop_scale, tta=args.tta,
                           ensemble=args.ensemble, ensemble_weights=args.ensemble_weights)


def analyzer_from_options(options: AnalyzerOptions, announce: bool = True, threads: int | None = None) -> FaceAnalyzer:
    """``FaceAnalyzer.from_options``, saying which default model is used when ``announce``."""
    if announce and options.model is None and paths.default_model().is_file():  # else FaceAnalyzer says what to pass
        logger.info(f"using the default model: {paths.default_model()}")
    return FaceAnalyzer.from_options(options, threads)
