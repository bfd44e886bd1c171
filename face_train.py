"""Train an age / gender / race model on UTKFace, or evaluate a saved one on the fixed test split.

    python face_train.py --data DIR --backbone vggface2_resnet50 --weights vggface2 --freeze conv4 --run mine
    python face_train.py --data DIR --backbone simple_cnn --weights none --epochs 40 --run small
    python face_train.py --data UTKFace/ --data aaf/labels.csv --crop as-is --crop detect --age-balance sex-decade \
        --backbone dlib_resnet --weights dlib --run two_sources     # several sources, each with its own split
    python face_train.py --evaluate face_weights/small/best.keras --data DIR
    python face_train.py --evaluate face_weights/a/best.keras face_weights/b/best.keras --data DIR --output ens.json
    python face_train.py --evaluate A.keras B.keras --data DIR --output ens.json --ensemble weighted \
        --ensemble-weights fit     # weights fitted on the validation split, then scored on the test split
    python face_train.py --resume --run small            # after an interruption
    python face_train.py --data DIR --backbone dlib_resnet --init A.keras --teacher A.keras --teacher B.keras \
        --teacher-weight 0.5 --run student             # distilled: targets mixed with the teachers' predictions
    python face_train.py --data adience/ --protocol adience-5fold --backbone levi_hassner --weights none --run lh
    python face_train.py --data train.csv --label-column gender --backbone simple_cnn --weights none --run csv
    python face_train.py --predict test.csv --model face_weights/csv/best.keras --output submission.csv \
        --sample sampleSubmit.csv

Exit status: 0 done; 2 an error, told in one line on stderr (argparse's usage line for a value out of range);
130 interrupted (Ctrl+C): one line saying how many epochs are kept and the --resume command that continues.
"""
import argparse
import shlex
import sys
from dataclasses import MISSING, asdict, fields

from facekit.apps.cli import (
    add_prediction_arguments,
    add_verbosity_arguments,
    exit_with_error,
    non_negative_float,
    positive_float,
    positive_int,
    probability,
    run_script,
    setup_logging,
)
from facekit.backbones.registry import BACKBONES
from facekit.core.errors import FaceKitError
from facekit.data.crop_cache import CROP_MODES
from facekit.data.samples import BALANCES
from facekit.data.sources import sources_of
from facekit.infer.ensemble import parse_weights
from facekit.infer.scoring import evaluate_saved
from facekit.infer.tta import TTA
from facekit.train.adience_protocol import PROTOCOLS, run_adience_5fold
from facekit.train.hardware import PRECISIONS
from facekit.train.losses import AGE_LOSSES
from facekit.train.pipeline import Augmentation
from facekit.train.run_folder import RunFolder
from facekit.train.submission import write_submission
from facekit.train.training import TrainConfig, resume, train

DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbosity_arguments(p)
    p.add_argument("--data", action="append",
                   help="folder of images in UTKFace naming (AGE_GENDER_RACE_*.jpg), or a .csv file (id, file or path "
                        "column; age, gender, race or label columns); repeat it to train on several sources, each "
                        "split by file name on its own")
    p.add_argument("--crop", action="append", choices=CROP_MODES,
                   help="as-is (default): the images are face crops like UTKFace's; detect: photos or loosely "
                        "aligned faces, cropped once by the demos' detector and crop (cached in train_data/crops). "
                        "Once for every --data, or once per --data in order")
    p.add_argument("--source-weight", action="append", type=non_negative_float,
                   help="how often a source's images are drawn per epoch (default 1); once, or once per --data")
    p.add_argument("--images", help="with a .csv --data or --predict: the images folder (default: the CSV's folder)")
    p.add_argument("--label-column", choices=("gender", "age", "race"),
                   help="with a .csv: what its label column holds; with --predict: the head written as the label "
                        "(default gender: 0 male, 1 female)")
    p.add_argument("--evaluate", metavar="MODEL", nargs="+",
                   help="evaluate this saved model (.keras, .tflite or .onnx) instead of training; several: an "
                        "ensemble (see --ensemble)")
    add_prediction_arguments(p, models="--evaluate models", fit=True)  # --ensemble, --ensemble-weights, --tta
    p.add_argument("--output", help="with --evaluate: metrics JSON path (default: MODEL_DIR/evaluation/); "
                                    "with --predict: the submission file")
    p.add_argument("--overwrite", action="store_true",
                   help="with --evaluate or --predict: replace existing outputs (never the model)")
    p.add_argument("--predict", metavar="TEST_CSV",
                   help="write a submission file: one label per image of this CSV (needs --model, --output)")
    p.add_argument("--model", help="with --predict: the saved model (.keras, .tflite or .onnx)")
    p.add_argument("--sample", help="with --predict: a sample submission file whose header and id order to follow")
    p.add_argument("--run", help="run name: face_weights/RUN/ and logs/RUN/ (default: BACKBONE_freeze-FREEZE)")
    p.add_argument("--protocol", choices=PROTOCOLS,
                   help="adience-5fold: train and score five times, each Adience fold held out once; mean and std "
                        "of age-group (exact, one-off) and gender accuracy in face_weights/RUN/protocol.json")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run --run with its saved settings (--epochs may change their count)")
    p.add_argument("--backbone", default=DEFAULTS["backbone"], choices=sorted(BACKBONES))
    p.add_argument("--weights", default=DEFAULTS["weights"],
                   help="a published source (vggface2, dlib), none (random init) or a weights file in the backbone's "
                        "format")
    p.add_argument("--freeze", default=DEFAULTS["freeze"],
                   help="frozen backbone layers: a count, none, all, or a stage the backbone declares "
                        "(conv2..conv5 for vggface2_resnet50, level1..level5 for dlib_resnet)")
    p.add_argument("--input-size", type=positive_int, help="input side in pixels (default: the backbone's own)")
    p.add_argument("--epochs", type=positive_int, help=f"default {DEFAULTS['epochs']}")
    p.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"])
    p.add_argument("--limit", type=positive_int, help="use a fixed subset of K images (the split stays the same)")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (default 1e-3 from scratch, 1e-4 pretrained)")
    p.add_argument("--init", metavar="MODEL",
                   help="start from this trained .keras model's weights (same backbone and input size), e.g. the "
                        "heads of a --freeze all run, then fine-tune")
    p.add_argument("--age-sigma", type=non_negative_float, default=DEFAULTS["age_sigma"],
                   help="width in years of the Gaussian age targets; 0 for one-hot")
    p.add_argument("--age-loss", choices=AGE_LOSSES, default=DEFAULTS["age_loss"],
                   help="ldl: cross-entropy with the Gaussian age targets; mean-variance: plus the squared error of "
                        "the predicted mean age and the predicted variance (Pan et al. 2018)")
    p.add_argument("--age-balance", choices=BALANCES, default=DEFAULTS["age_balance"],
                   help="oversample: repeat images of rare age decades (children, the elderly); sex-decade: of rare "
                        "sex x age decade groups; within each source, by the square root of rarity, at most 4x")
    p.add_argument("--teacher", metavar="MODEL", action="append",
                   help="distillation: a trained model (any runtime) whose predictions, averaged over every "
                        "--teacher and --teacher-tta, are mixed into the training targets; repeat for several")
    p.add_argument("--teacher-weight", type=probability, default=DEFAULTS["teacher_weight"],
                   help="the teachers' share of each training target (the labels' is the rest)")
    p.add_argument("--teacher-tta", choices=TTA, default=DEFAULTS["teacher_tta"],
                   help="the teachers' test-time augmentation")
    p.add_argument("--ema", action="store_true",
                   help="keep an exponential moving average of the weights; validate and checkpoint it")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--mixup", type=non_negative_float, default=Augmentation().mixup, help="mixup alpha; 0 disables")
    p.add_argument("--erase", type=probability, default=Augmentation().erase,
                   help="probability of random erasing per image; 0 disables")
    p.add_argument("--patience", type=positive_int, default=DEFAULTS["patience"],
                   help="early-stopping patience (epochs)")
    p.add_argument("--no-feature-cache", action="store_true",
                   help="with --freeze all, run images through the frozen backbone every epoch instead")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS["precision"],
                   help="auto: mixed float16 on a GPU, mixed bfloat16 on a CPU with bf16 instructions "
                        "(AVX512-BF16 / AMX), else float32")
    args = p.parse_args(argv)
    if args.resume and not args.run:
        p.error("--resume needs --run NAME")
    if args.resume:  # the run's saved settings are used: an option that would change them is refused, not ignored
        kept = {"resume", "run", "epochs", "quiet", "verbose", "help"}
        changed = [action.option_strings[0] for action in p._actions if action.dest not in kept
                   and action.option_strings and getattr(args, action.dest) != action.default]
        if changed:
            p.error(f"--resume continues the run with its saved settings: {', '.join(changed)} cannot change "
                    "(only --epochs can); start a new --run to train otherwise")
    if args.predict and not (args.model and args.output):
        p.error("--predict needs --model and --output")
    if args.tta != "none" and not args.evaluate:
        p.error("--tta goes with --evaluate")
    if (args.model or args.sample) and not args.predict:
        p.error("--model and --sample go with --predict")
    if not args.resume and not args.predict and not args.data:
        p.error("--data DIR is required")
    return args


def main(argv=None):
    args = parse_args(argv)
    setup_logging(args)
    try:
        if args.predict:
            write_submission(args.predict, args.model, args.output, images=args.images, sample=args.sample,
                             head=args.label_column or "gender", overwrite=args.overwrite)
            return
        if args.evaluate:
            evaluate_saved(args.evaluate, args.data, args.output, limit=args.limit, overwrite=args.overwrite,
                           tta=args.tta, ensemble=args.ensemble, images=args.images,
                           weights=parse_weights(args.ensemble_weights, fit_allowed=True),
                           crop=args.crop, label_column=args.label_column)
            return
        if args.resume:
            resume(args.run, epochs=args.epochs)
            return
        augmentation = Augmentation.off() if args.no_augment else Augmentation(mixup=args.mixup, erase=args.erase)
        config = TrainConfig(
            data=sources_of(args.data, args.crop, args.source_weight),
            images=args.images, label_column=args.label_column,
            run=args.run or default_run_name(args), backbone=args.backbone,
            weights=None if args.weights == "none" else args.weights, freeze=args.freeze,
            input_size=args.input_size, epochs=args.epochs or DEFAULTS["epochs"], batch_size=args.batch_size,
            limit=args.limit,
            lr=args.lr, age_sigma=args.age_sigma, age_loss=args.age_loss, age_balance=args.age_balance,
            augmentation=asdict(augmentation),
            patience=args.patience, feature_cache=not args.no_feature_cache, precision=args.precision,
            init=args.init, ema=args.ema, teachers=args.teacher, teacher_weight=args.teacher_weight,
            teacher_tta=args.teacher_tta)
        if args.protocol:
            run_adience_5fold(config, train)
        else:
            train(config)
    except FaceKitError as error:
        exit_with_error(error)
    except KeyboardInterrupt:  # Ctrl+C: one line, not Keras' traceback; the backup and checkpoint are whole
        print(f"\n{interrupted(args)}", file=sys.stderr)
        sys.exit(130)


def interrupted(args):
    """Where an interrupted command stopped, and how to go on."""
    if args.evaluate or args.predict:
        return "interrupted: nothing was written"
    run = RunFolder.named(args.run or default_run_name(args))
    if not run.config.exists():
        return "interrupted before training started: nothing was saved"
    return (f"interrupted after {run.finished_epochs()} finished epoch(s) of run '{run.name}'; continue with: "
            f"python face_train.py --resume --run {shlex.quote(run.name)}")


def default_run_name(args):
    return f"{args.backbone}_freeze-{args.freeze}"


if __name__ == "__main__":
    run_script(main)
