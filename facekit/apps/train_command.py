"""Train an age / gender / race model, score saved ones, predict a submission file, or continue a run.

    python face_train.py fit --data DIR --backbone vggface2_resnet50 --weights vggface2 --freeze conv4 --run mine
    python face_train.py fit --data DIR --backbone simple_cnn --weights none --epochs 40 --run small
    python face_train.py fit --data UTKFace/ --data aaf/labels.csv --crop as-is --crop detect \\
        --age-balance sex-decade --backbone dlib_resnet --weights dlib --run two_sources   # each source split apart
    python face_train.py fit --data DIR --backbone dlib_resnet --init A.keras --teacher A.keras --teacher B.keras \\
        --teacher-weight 0.5 --run student           # distilled: targets mixed with the teachers' predictions
    python face_train.py fit --data adience/ --protocol adience-5fold --backbone levi_hassner --weights none --run lh
    python face_train.py fit --data train.csv --label-column gender --backbone simple_cnn --weights none --run csv
    python face_train.py resume --run small          # after an interruption
    python face_train.py evaluate face_weights/small/best.keras --data DIR
    python face_train.py evaluate A.tflite B.onnx --data DIR --output ens.json --ensemble weighted \\
        --ensemble-weights fit     # weights fitted on the validation split, then scored on the test split
    python face_train.py predict test.csv --model face_weights/csv/best.keras --output submission.csv \\
        --sample sampleSubmit.csv

COMMAND --help lists each command's options. fit and resume need the train extra (TensorFlow); evaluate and predict
of exported models (.tflite, .onnx) run in the light install. The flag forms of earlier releases (--evaluate MODEL,
--predict CSV, --resume, training options alone) still work for one release, with one line on stderr naming the
command that replaces them.

Exit status: 0 done; 2 an error, told in one line on stderr (argparse's usage line for a value out of range);
130 interrupted (Ctrl+C): one line saying how many epochs are kept and the resume command that continues.
"""
import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from facekit.apps.cli import (
    add_prediction_arguments,
    add_verbosity_arguments,
    exit_with_error,
    non_negative_float,
    positive_float,
    positive_int,
    probability,
    setup_logging,
)
from facekit.core.errors import FaceKitError
from facekit.core.extras import require
from facekit.data.crop_cache import CROP_MODES
from facekit.data.samples import BALANCES
from facekit.data.sources import sources_of
from facekit.infer.ensemble import parse_weights
from facekit.infer.scoring import evaluate_saved
from facekit.infer.tta import TTA
from facekit.train.run_folder import RunFolder
from facekit.train.submission import write_submission

COMMANDS = {
    "fit": "train a model (needs the train extra)",
    "evaluate": "score saved models (.keras, .tflite, .onnx; several: an ensemble) on a dataset's fixed test split",
    "predict": "write a submission file: one label per image of a test CSV",
    "resume": "continue an interrupted run with its saved settings (needs the train extra)",
}
TRAINING = ("fit", "resume")  # the commands that load TensorFlow
LEGACY = {"--evaluate": "evaluate", "--predict": "predict", "--resume": "resume"}  # the flag forms, until removed
# How the deprecation line names each flag form and its command
FORMS = {"--evaluate": ("--evaluate MODEL ...", "evaluate MODEL ..."), "--predict": ("--predict TEST_CSV ...",
         "predict TEST_CSV ..."), "--resume": ("--resume --run NAME", "resume --run NAME"),
         "fit": ("--data DIR ... (no command)", "fit --data DIR ...")}
VERBOSITY = ("-q", "--quiet", "-v", "--verbose")
RESUME_KEEPS = {"run", "epochs", "quiet", "verbose", "help"}  # what resume takes; the run's settings are the rest


def program() -> str:
    """The name the command was run by: face-train (the console script) or face_train.py."""
    return "face-train" if Path(sys.argv[0]).name == "face-train" else "face_train.py"


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str], str | None]:
    """``(command, its arguments, the flag form it was given in)`` for a command line: ``COMMAND ARGS`` (-q / -v
    may come first), or a flag form of earlier releases (``--evaluate MODEL ...``, ``--predict CSV``, ``--resume``,
    or training options alone: fit), rewritten. ``(None, argv, None)`` when there is no command to find: help,
    nothing, a misspelt command, two flag forms at once (the top-level parser then says so)."""
    argv = list(argv)
    lead = 0
    while lead < len(argv) and argv[lead] in VERBOSITY:
        lead += 1
    if lead < len(argv) and argv[lead] in COMMANDS:
        return argv[lead], argv[:lead] + argv[lead + 1:], None
    if lead == len(argv) or not argv[lead].startswith("-") or argv[lead] in ("-h", "--help"):
        return None, argv, None
    flags = [i for i, token in enumerate(argv) if token.split("=", 1)[0] in LEGACY]
    if len({argv[i].split("=", 1)[0] for i in flags}) > 1:
        return None, argv, None
    if not flags:
        return "fit", argv, "fit"
    at = flags[0]
    flag, _, value = argv[at].partition("=")
    values, end = ([value], at + 1) if value else ([], at + 1)
    if flag == "--evaluate" and not value:
        while end < len(argv) and not argv[end].startswith("-"):
            end += 1
        values = argv[at + 1:end]
    elif flag == "--predict" and not value and end < len(argv) and not argv[end].startswith("-"):
        values, end = [argv[end]], end + 1
    rest = [token for i, token in enumerate(argv[:at] + argv[end:]) if i not in flags[1:]]
    return LEGACY[flag], values + rest, flag


def light_command(argv: Sequence[str]) -> bool:
    """Whether a command line runs without the train extra: evaluate or predict (in either form; a .keras model
    still needs Keras, and says so), or the help. fit, resume and a command line that cannot be read need it."""
    command = split_command(argv)[0]
    return command in ("evaluate", "predict") or command is None and any(token in ("-h", "--help") for token in argv)


def _fit_arguments(parser: argparse.ArgumentParser, resume: bool = False) -> None:
    """fit's options, in groups; with ``resume``, every one but --run and --epochs hidden: resume takes them only to
    refuse them (``parse_args``), as they would change a run's saved settings."""
    require("keras", "face-train")  # fit's choices and defaults come from the modules that train
    from facekit.backbones.registry import BACKBONES
    from facekit.train.adience_protocol import PROTOCOLS
    from facekit.train.hardware import PRECISIONS
    from facekit.train.losses import AGE_LOSSES
    from facekit.train.pipeline import Augmentation
    from facekit.train.training import TrainConfig

    defaults = TrainConfig(data=[], run="")
    data = _data_arguments(
        parser, required=not resume,
        data="folder of images in UTKFace naming (AGE_GENDER_RACE_*.jpg), or a .csv file (id, file or path column; "
             "age, gender, race or label columns); repeat it to train on several sources, each split by file name on "
             "its own",
        crop="as-is (default): the images are face crops like UTKFace's; detect: photos or loosely aligned faces, "
             "cropped once by the demos' detector and crop (cached in train_data/crops). Once for every --data, or "
             "once per --data in order",
        limit="use a fixed subset of K images (the split stays the same)")
    data.add_argument("--source-weight", action="append", type=non_negative_float,
                      help="how often a source's images are drawn per epoch (default 1); once, or once per --data")
    data.add_argument("--protocol", choices=PROTOCOLS,
                      help="adience-5fold: train and score five times, each Adience fold held out once; mean and std "
                           "of age-group (exact, one-off) and gender accuracy in face_weights/RUN/protocol.json")
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", default=defaults.backbone, choices=sorted(BACKBONES))
    model.add_argument("--weights", default=defaults.weights,
                       help="a published source (vggface2, dlib), none (random init) or a weights file in the "
                            "backbone's format")
    model.add_argument("--freeze", default=defaults.freeze,
                       help="frozen backbone layers: a count, none, all, or a stage the backbone declares "
                            "(conv2..conv5 for vggface2_resnet50, level1..level5 for dlib_resnet)")
    model.add_argument("--input-size", type=positive_int, help="input side in pixels (default: the backbone's own)")
    model.add_argument("--init", metavar="MODEL",
                       help="start from this trained .keras model's weights (same backbone and input size), e.g. the "
                            "heads of a --freeze all run, then fine-tune")
    training = parser.add_argument_group("training")
    if not resume:
        training.add_argument("--run", help="run name: face_weights/RUN/ and logs/RUN/ (default: "
                                            "BACKBONE_freeze-FREEZE)")
        training.add_argument("--epochs", type=positive_int, help=f"default {defaults.epochs}")
    training.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    training.add_argument("--lr", type=positive_float,
                          help="peak learning rate (default 1e-3 from scratch, 1e-4 pretrained)")
    training.add_argument("--age-sigma", type=non_negative_float, default=defaults.age_sigma,
                          help="width in years of the Gaussian age targets; 0 for one-hot")
    training.add_argument("--age-loss", choices=AGE_LOSSES, default=defaults.age_loss,
                          help="ldl: cross-entropy with the Gaussian age targets; mean-variance: plus the squared "
                               "error of the predicted mean age and the predicted variance (Pan et al. 2018)")
    training.add_argument("--age-balance", choices=BALANCES, default=defaults.age_balance,
                          help="oversample: repeat images of rare age decades (children, the elderly); sex-decade: "
                               "of rare sex x age decade groups; within each source, by the square root of rarity, "
                               "at most 4x")
    training.add_argument("--ema", action="store_true",
                          help="keep an exponential moving average of the weights; validate and checkpoint it")
    training.add_argument("--patience", type=positive_int, default=defaults.patience,
                          help="early-stopping patience (epochs)")
    training.add_argument("--no-feature-cache", action="store_true",
                          help="with --freeze all, run images through the frozen backbone every epoch instead")
    training.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                          help="auto: mixed float16 on a GPU, mixed bfloat16 on a CPU with bf16 instructions "
                               "(AVX512-BF16 / AMX), else float32")
    augmentation = parser.add_argument_group("augmentation")
    augmentation.add_argument("--no-augment", action="store_true", help="train without augmentation")
    augmentation.add_argument("--mixup", type=non_negative_float, default=Augmentation().mixup,
                              help="mixup alpha; 0 disables")
    augmentation.add_argument("--erase", type=probability, default=Augmentation().erase,
                              help="probability of random erasing per image; 0 disables")
    distillation = parser.add_argument_group("distillation")
    distillation.add_argument("--teacher", metavar="MODEL", action="append",
                              help="a trained model (any runtime) whose predictions, averaged over every --teacher "
                                   "and --teacher-tta, are mixed into the training targets; repeat for several")
    distillation.add_argument("--teacher-weight", type=probability, default=defaults.teacher_weight,
                              help="the teachers' share of each training target (the labels' is the rest)")
    distillation.add_argument("--teacher-tta", choices=TTA, default=defaults.teacher_tta,
                              help="the teachers' test-time augmentation")
    if resume:
        for action in parser._actions:
            if action.dest not in RESUME_KEEPS:
                action.help = argparse.SUPPRESS


def _data_arguments(parser: argparse.ArgumentParser, required: bool, data: str, crop: str,
                    limit: str) -> argparse._ArgumentGroup:
    """The dataset options fit and evaluate share, in a group "data" (returned: fit adds its own), with their help."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", action="append", required=required, help=data)
    group.add_argument("--crop", action="append", choices=CROP_MODES, help=crop)
    group.add_argument("--images", help="with a .csv --data: the images folder (default: the CSV's folder)")
    group.add_argument("--label-column", choices=("gender", "age", "race"),
                       help="with a .csv: what its label column holds")
    group.add_argument("--limit", type=positive_int, help=limit)
    return group


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", metavar="MODEL", nargs="+",
                        help="a saved model (.keras, .tflite or .onnx); several: an ensemble (see --ensemble)")
    _data_arguments(parser, required=True,
                    data="a dataset as fit takes it (a UTKFace folder, a .csv, ...); repeat it for several sources, "
                         "each split by file name on its own: scored on the test split of each",
                    crop="as-is (default) or detect, as fit takes it: once for every --data, or once per --data",
                    limit="the test split of a fixed subset of K images (as fit --limit K made it)")
    combined = parser.add_argument_group("ensembles and test-time augmentation")
    add_prediction_arguments(cast(Any, combined), models="MODELs", fit=True)  # a group adds them as a parser does
    output = parser.add_argument_group("output")
    output.add_argument("--output", help="metrics JSON path, plots beside it (default: MODEL_DIR/evaluation/)")
    output.add_argument("--overwrite", action="store_true", help="replace existing outputs (never a model)")


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("test_csv", metavar="TEST_CSV",
                        help="the test images: a CSV naming them as a CSV dataset does (labels, if any, ignored)")
    given = parser.add_argument_group("input")
    given.add_argument("--model", required=True, help="the saved model (.keras, .tflite or .onnx)")
    given.add_argument("--images", help="the images folder (default: the CSV's folder)")
    given.add_argument("--label-column", choices=("gender", "age", "race"),
                       help="the head written as the label (default gender: 0 male, 1 female)")
    written = parser.add_argument_group("output")
    written.add_argument("--output", required=True, help="the submission file")
    written.add_argument("--sample", help="a sample submission file whose header and id order to follow")
    written.add_argument("--overwrite", action="store_true", help="replace an existing output (never an input)")


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="the interrupted run's name")
    parser.add_argument("--epochs", type=positive_int,
                        help="the run's epochs in all (default: its saved count; more or fewer may be given)")
    _fit_arguments(parser, resume=True)


ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "fit": _fit_arguments, "evaluate": _evaluate_arguments, "predict": _predict_arguments,
    "resume": _resume_arguments}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: a subcommand each; only ``command``'s options are added (fit's and resume's import
    the modules that train, TensorFlow: the light commands never load it)."""
    return _parsers(command)[0]


def _parsers(command: str | None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """``build_parser``'s parser, and its subcommands' by name."""
    parser = argparse.ArgumentParser(prog=program(), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers = {}
    for name, summary in COMMANDS.items():
        sub = subparsers[name] = commands.add_parser(name, help=summary, description=f"{summary[0].upper()}"
                                                     f"{summary[1:]}.")
        add_verbosity_arguments(sub)
        if name == command:
            ARGUMENTS[name](sub)
    return parser, subparsers


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options of ``argv`` (default: the process's): ``command`` and that command's options. A flag form of
    earlier releases parses as the command it stands for, after one line on stderr naming that command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command, arguments, legacy = split_command(argv)
    try:
        parser, subparsers = _parsers(command)
    except FaceKitError as error:  # fit or resume without the train extra
        exit_with_error(error)
    if command is None:
        flags = sorted({token.split("=", 1)[0] for token in argv if token.split("=", 1)[0] in LEGACY})
        if len(flags) > 1:
            parser.error(f"{' and '.join(flags)} are two commands; run one at a time")
    elif legacy is not None:
        old, new = FORMS[legacy]
        print(f"deprecated: {program()} {old} is now {program()} {new} (the old form stops working in a later "
              "release)", file=sys.stderr)
    args = parser.parse_args([command, *arguments] if command else arguments)
    if args.command == "resume":  # the run's saved settings are used: an option that would change them is refused
        changed = [action.option_strings[0] for action in subparsers["resume"]._actions
                   if action.dest not in RESUME_KEEPS and action.option_strings
                   and getattr(args, action.dest) != action.default]
        if changed:
            subparsers["resume"].error(f"resume continues the run with its saved settings: {', '.join(changed)} "
                                       "cannot change (only --epochs can); start a new run (fit --run NAME) to train "
                                       "otherwise")
    return args


def fit(args: argparse.Namespace) -> None:
    from facekit.train.adience_protocol import run_adience_5fold
    from facekit.train.pipeline import Augmentation
    from facekit.train.training import TrainConfig, train

    augmentation = Augmentation.off() if args.no_augment else Augmentation(mixup=args.mixup, erase=args.erase)
    config = TrainConfig(
        data=sources_of(args.data, args.crop, args.source_weight),
        images=args.images, label_column=args.label_column, run=args.run or default_run_name(args),
        backbone=args.backbone, weights=None if args.weights == "none" else args.weights, freeze=args.freeze,
        input_size=args.input_size, epochs=args.epochs or TrainConfig.epochs, batch_size=args.batch_size,
        limit=args.limit, lr=args.lr,
        age_sigma=args.age_sigma, age_loss=args.age_loss, age_balance=args.age_balance,
        augmentation=asdict(augmentation), patience=args.patience, feature_cache=not args.no_feature_cache,
        precision=args.precision, init=args.init, ema=args.ema, teachers=args.teacher,
        teacher_weight=args.teacher_weight, teacher_tta=args.teacher_tta)
    if args.protocol:
        run_adience_5fold(config, train)
    else:
        train(config)


def evaluate(args: argparse.Namespace) -> None:
    evaluate_saved(args.models, args.data, args.output, limit=args.limit, overwrite=args.overwrite, tta=args.tta,
                   ensemble=args.ensemble, images=args.images,
                   weights=parse_weights(args.ensemble_weights, fit_allowed=True), crop=args.crop,
                   label_column=args.label_column)


def predict(args: argparse.Namespace) -> None:
    write_submission(args.test_csv, args.model, args.output, images=args.images, sample=args.sample,
                     head=args.label_column or "gender", overwrite=args.overwrite)


def resume(args: argparse.Namespace) -> None:
    from facekit.train.training import resume as resume_run

    resume_run(args.run, epochs=args.epochs)


RUN: dict[str, Callable[[argparse.Namespace], Any]] = {
    "fit": fit, "evaluate": evaluate, "predict": predict, "resume": resume}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args)
    try:
        RUN[args.command](args)
    except FaceKitError as error:
        exit_with_error(error)
    except KeyboardInterrupt:  # Ctrl+C: one line, not Keras' traceback; the backup and checkpoint are whole
        print(f"\n{interrupted(args)}", file=sys.stderr)
        sys.exit(130)


def interrupted(args: argparse.Namespace) -> str:
    """Where an interrupted command stopped, and how to go on."""
    if args.command not in TRAINING:
        return "interrupted: nothing was written"
    run = RunFolder.named(args.run or default_run_name(args))
    if not run.config.exists():
        return "interrupted before training started: nothing was saved"
    return (f"interrupted after {run.finished_epochs()} finished epoch(s) of run '{run.name}'; continue with: "
            f"python face_train.py resume --run {shlex.quote(run.name)}")


def default_run_name(args: argparse.Namespace) -> str:
    return f"{args.backbone}_freeze-{args.freeze}"
