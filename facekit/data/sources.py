"""A run's data: one or several sources (``--data`` repeated), each read, split and cropped on its own, then joined.

Each source keeps its own fixed split by file name (``facekit.data.split``), so adding a source never moves an image
of another between train, validation and test: UTKFace's test split stays what it is alone. A source whose images
are photos or loosely aligned faces (``crop="detect"``) is cropped after the split by the demos' detector and crop
(``facekit.data.crop_cache``). Labels a source does not give are MISSING, and the losses skip them.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facekit.core.errors import InputError, first_few
from facekit.data.crop_cache import CROP_MODES, cropped
from facekit.data.datasets import dataset_reader, read_dataset, split_dataset
from facekit.data.samples import SPLITS, Samples, concatenate
from facekit.vision.images import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Source:
    data: str
    crop: str = "as-is"  # or "detect" (CROP_MODES)
    weight: float = 1.0  # how often its images are drawn per epoch, relative to the others

    @property
    def name(self) -> str:
        """A short name for logs and reports: the folder or file name (AAF's labels.csv, FairFace's label files:
        their folder's)."""
        path = Path(self.data)
        by_folder = path.name.lower() == "labels.csv" or path.name.lower().startswith("fairface_label_")
        return path.parent.name if by_folder else path.name


def sources_of(data: str | Sequence[str], crop: Sequence[str] | None = None,
               weights: Sequence[float] | None = None) -> list[Source]:
    """Sources from ``--data`` values and ``--crop`` / ``--source-weight`` given once (for every source) or once per
    source, in order."""
    data = [data] if isinstance(data, str) else list(data)
    return [Source(path, crop_mode, float(weight)) for path, crop_mode, weight in
            zip(data, _per_source(crop, "as-is", data, "--crop"), _per_source(weights, 1.0, data, "--source-weight"))]


def _per_source(values: Sequence[Any] | None, default: Any, data: list[str], option: str) -> list[Any]:
    if values is None or len(values) == 0:
        return [default] * len(data)
    if len(values) == 1:
        return list(values) * len(data)
    if len(values) != len(data):
        raise InputError(f"{option} given {len(values)} times for {len(data)} --data sources: give it once (for "
                           "all) or once per --data, in the same order")
    return list(values)


def check_sources(sources: Sequence[Source], **options: Any) -> None:
    """Every source exists and is a dataset, its crop mode and weight valid, none given twice: before any slow work."""
    seen: dict[str, str] = {}
    for source in sources:
        resolved = str(Path(source.data).resolve())
        if resolved in seen:
            raise InputError(f"--data {source.data} is given twice (as {seen[resolved]} too): its images would count "
                             "twice")
        seen[resolved] = source.data
        dataset_reader(source.data, **options)
        if source.crop not in CROP_MODES:
            raise InputError(f"--crop {source.crop}: choose {' or '.join(CROP_MODES)}")
        if not source.weight >= 0:
            raise InputError(f"--source-weight {source.weight}: a weight is a number of 0 or more")


def label_fingerprint(data: str | Path) -> str:
    """sha256 of what holds a source's labels: the file (a CSV), or the folder's file names and its text files
    (UTKFace's labels are its names; Adience's, its fold files)."""
    path = Path(data)
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
    else:
        for entry in sorted(path.iterdir()):
            digest.update(entry.name.encode() + b"\n")
            if entry.is_file() and entry.suffix.lower() not in IMAGE_EXTENSIONS:
                digest.update(entry.read_bytes())
    return digest.hexdigest()


def _refuse_shared_images(samples: Samples, source: Source, owners: dict[str, str]) -> None:
    """InputError when an image of ``source`` is also an image of an earlier source (``owners``, updated): it would
    count twice, and two sources may label it differently."""
    shared = []
    for path in samples.paths.tolist():
        real = os.path.realpath(path)
        if owners.setdefault(real, source.data) != source.data:
            shared.append((path, owners[real]))
    if shared:
        raise InputError(f"{len(shared)} image(s) of --data {source.data} are images of another --data too (their "
                         f"labels may differ; each would count twice): {first_few([p for p, _ in shared])} (also in "
                         f"{shared[0][1]})")


def read_splits(sources: Sequence[Source], limit: int | None = None, **options: Any
                ) -> tuple[dict[str, Samples], list[dict[str, Any]], dict[str, list[str]]]:
    """``(splits, records, names)``: ``{"train", "val", "test"} -> Samples``, each source split by file name (then
    cropped where asked), joined, every image tagged with its source; ``records`` describe the sources for the run's
    config; ``names``: {split: [file name, ...]} (SOURCE/NAME with several sources), the split as it was made, before
    cropping renames files."""
    parts: list[dict[str, Samples]] = []
    records: list[dict[str, Any]] = []
    split_names: dict[str, list[str]] = {}
    owners: dict[str, str] = {}  # each image file, by its real path: the source it came from
    for source in sources:
        samples = read_dataset(source.data, **options)
        _refuse_shared_images(samples, source, owners)
        splits = split_dataset(source.data, samples, limit=limit, **options)
        for part, samples_of_part in splits.items():
            prefix = f"{source.name}/" if len(sources) > 1 else ""  # which source, when there are several
            split_names.setdefault(part, []).extend(prefix + name for name in samples_of_part.names)
        if source.crop == "detect":
            splits = {part: cropped(part_samples, what=f"{source.name} {part}")
                      for part, part_samples in splits.items()}
        parts.append(splits)
        records.append({"data": str(Path(source.data).resolve()), "name": source.name, "crop": source.crop,
                        "weight": source.weight, "files": len(samples),
                        "label_sha256": label_fingerprint(source.data)})
    joined = {part: concatenate([splits[part] for splits in parts]) for part in SPLITS}
    return joined, records, split_names
