"""Finds every face in photos, estimates age, gender and race, and writes annotated copies.

    python face_demo.py photo.jpg                      # -> annotated/photo_annotated.jpg
    python face_demo.py photos/ more.png --json faces.json
    python face_demo.py photo.jpg --output out.jpg --detector yunet --detector-model face_detection_yunet_2023mar.onnx

Annotated images go to the folder ``--output`` (default ``annotated/``) as NAME_annotated.EXT, or to the file
``--output`` when it names an image file and there is one input. Existing files are never replaced unless
``--overwrite`` is given, and an input never is. A folder's images are read by extension (not recursively).

A photo library:

    python face_demo.py library/ --jsonl faces.jsonl --no-annotate            # results only
    python face_demo.py library/ --jsonl faces.jsonl --no-annotate --resume   # after an interruption

``--workers auto`` (the default) runs two worker processes for 200 photos or more on a machine of two cores or
more, one otherwise. ``--jsonl`` writes one line per photo, flushed as it finishes (in any order with two workers
or more; ``--json`` keeps the inputs' order); ``--resume`` skips
the photos already in it (a line cut by a kill is dropped and its photo done again), and replaces the annotated
copies of the photos it does again. In one process the next photos are read and decoded in threads while one is
analysed (``--read-ahead``); with ``--no-annotate`` and ``--min-face`` 80 or more, large JPEGs are decoded at 1/2,
1/4 or 1/8 of their size where that cannot change the faces found (``--full-decode``: never; docs/demos.md).
On a Dask cluster (pip install .[cluster]; README, Photo libraries):

    python face_demo.py library/ --jsonl faces.jsonl --no-annotate --cluster tcp://scheduler:8786
    python face_demo.py library/ --jsonl faces.jsonl --no-annotate --cluster local:2    # 2 workers started here

Exit status: 0 all images annotated; 1 some images could not be read or written (each is reported, the others
are written); 2 nothing done: a missing input, model or detector file, or another error in the command (one line
on stderr).
"""
import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facekit.apps.cli import (
    add_analyzer_arguments,
    allow_large_images,
    analyzer_from_options,
    analyzer_options,
    exit_with_error,
    positive_int,
    setup_logging,
)
from facekit.apps.library import AUTO_WORKERS_FROM, READ_AHEAD, JsonLines, auto_workers, photo_results, read_done
from facekit.apps.photos import check_outputs, output_paths, reduced_decode
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.core.outputs import write_text
from facekit.vision.images import find_images

if TYPE_CHECKING:
    from tqdm import tqdm

DEFAULT_OUTPUT = Path("annotated")


info = logging.getLogger("facekit.face_demo").info  # shown as print did, and not with -q (apps.cli.setup_logging)

def photo_count(text: str) -> int:
    """--read-ahead's type: a whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def worker_count(text: str) -> int | str:
    """--workers: "auto" or a number of processes, 1 or more."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except ValueError:  # not a whole number
        raise argparse.ArgumentTypeError(f"must be auto or a number, 1 or more, not {text}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    add_analyzer_arguments(parser)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"folder or image file (default: {DEFAULT_OUTPUT}/)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every face's box and predictions")
    parser.add_argument("--jsonl", default=None, metavar="FILE",
                        help="JSON Lines: one line per photo (as --json's entries), written as each photo finishes")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run: skip the photos that --jsonl FILE already holds")
    parser.add_argument("--no-annotate", action="store_true", help="write results only, no annotated copies")
    parser.add_argument("--workers", type=worker_count, default="auto", metavar="N",
                        help="worker processes, each with its own model and detector; auto (the default): 2 on a "
                             f"machine of 2 or more cores for {AUTO_WORKERS_FROM} photos or more (x1.28 there), "
                             "else 1")
    parser.add_argument("--read-ahead", type=photo_count, default=READ_AHEAD, metavar="N",
                        help="with one process, photos read and decoded in threads ahead of the one analysed "
                             f"(default: {READ_AHEAD}; 0: each read in its turn)")
    parser.add_argument("--full-decode", action="store_true",
                        help="decode every JPEG at its full size (by default, with --no-annotate and YuNet, a large "
                             "JPEG is decoded at 1/2, 1/4 or 1/8 where --min-face allows: from 80, 160, 320)")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="shard the photos over a Dask cluster: its scheduler (tcp://HOST:8786), or local:N to "
                             "start N workers here; needs --jsonl and pip install .[cluster]")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    if args.cluster is not None and args.jsonl is None:
        parser.error("--cluster needs --jsonl FILE: where the results go")
    if args.resume and args.jsonl is None:
        parser.error("--resume needs --jsonl FILE: the results to continue")
    if args.resume and args.json is not None:
        parser.error("--json with --resume would hold only this run's photos: --jsonl FILE holds them all")
    return args


def run(args: argparse.Namespace) -> int:
    """Annotates every input; returns the exit status (0, or 1 when some images could not be read)."""
    images = find_images(args.inputs)
    if args.cluster is not None:  # the workers may run elsewhere: photos by absolute path
        images = [image.absolute() for image in images]
    done, keep = read_done(args.jsonl) if args.resume else ({}, 0)
    outputs = [None] * len(images) if args.no_annotate else output_paths(images, args.output, claimed=done)
    tasks = [(image, output) for image, output in zip(images, outputs) if os.path.abspath(image) not in done]
    check_outputs([output for _, output in tasks if output is not None], args.json, images,
                  args.overwrite or args.resume, args.jsonl, args.resume)
    if done:
        info(f"resuming: {len(images) - len(tasks)} of {len(images)} photos are in {args.jsonl} already")
    if args.model is None and paths.default_model().is_file():  # named once, here, also for worker processes; a
        info(f"using the default model: {paths.default_model()}")  # missing one is an error of the analyzer
    options = analyzer_options(args)
    make_analyzer = functools.partial(analyzer_from_options, options, False)  # (threads) -> an analyzer; picklable
    # results only: JPEGs decoded reduced where that cannot change the faces found (annotated copies need them whole)
    make_reduced = functools.partial(reduced_decode, options) if args.no_annotate and not args.full_decode else None
    if args.cluster is not None:
        from facekit.apps.cluster import cluster_results
        results = cluster_results(args.cluster, make_analyzer, tasks, options.key())
    else:
        workers = args.workers
        if workers == "auto":
            workers = auto_workers(len(tasks))
            if workers > 1:
                info(f"{len(tasks)} photos: {workers} worker processes (--workers 1 for one)")
        results = photo_results(make_analyzer, tasks, min(workers, max(len(tasks), 1)), args.read_ahead, make_reduced)
    jsonl = JsonLines(args.jsonl, keep) if args.jsonl else None
    entries, failed = [], 0
    progress = progress_bar(len(tasks)) if not args.quiet else None  # -q: warnings and errors only
    say = progress.write if progress is not None else print
    try:
        for entry, summary in results:
            if jsonl is not None:
                jsonl.write(entry)
            if args.json:
                entries.append(entry)
            if summary is None:
                failed += 1
                say(f"error: {entry['error']}", file=sys.stderr)
            elif not args.quiet:
                say(summary)
            if progress is not None:
                progress.update()
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # a generator stopped early (an error writing --jsonl): its threads or workers end now
            close()
        if progress is not None:
            progress.close()
        if jsonl is not None:
            jsonl.close()
    status = 1 if failed else 0
    if failed:
        print(failure_summary(failed, len(tasks)), file=sys.stderr)
    if args.jsonl:
        info(f"wrote {args.jsonl}")
    if args.json:
        order = {str(image): index for index, image in enumerate(images)}
        entries.sort(key=lambda entry: order[entry["image"]])  # the inputs' order, whatever order workers finish in
        try:
            write_text(args.json, json.dumps(entries, indent=2) + "\n")
        except FaceKitError as error:  # the images are written by now: exit 1, not 2 ("nothing done")
            print(f"error: {error}", file=sys.stderr)
            return 1
        info(f"wrote {args.json}")
    return status


def progress_bar(total: int) -> "tqdm | None":
    """A progress bar with photos per second and the time left, for more than one photo (tqdm is imported only
    then: importing it costs a single photo 0.05 s)."""
    if total <= 1:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="photo", smoothing=0.1)


def failure_summary(failed: int, total: int) -> str:
    if total == 1:
        return "the image could not be annotated"
    if failed == total:
        return f"none of the {total} images could be annotated"
    return f"{failed} of {total} images could not be annotated ({total - failed} were)"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args)
    allow_large_images()
    try:
        status = run(args)
    except FaceKitError as error:
        exit_with_error(error)
    sys.exit(status)

