"""Train an age / gender / race model, score saved ones, predict a submission file, or continue a run:

    python face_train.py fit --data DIR --backbone simple_cnn --weights none --run small
    python face_train.py evaluate face_weights/small/best.keras --data DIR
    python face_train.py predict test.csv --model face_weights/small/best.keras --output submission.csv
    python face_train.py resume --run small

``python face_train.py --help`` and ``python face_train.py COMMAND --help`` say more; the work is
facekit/apps/train_command.py's.
"""
from facekit.apps.cli import run_script
from facekit.apps.train_command import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    run_script(main)
