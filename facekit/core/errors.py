"""The exception types that the command-line scripts turn into a one-line message (facekit.apps.cli).

Catch ``FaceKitError`` for all of them, or one kind: ``InputError`` (a bad value, name, image or option; also a
``ValueError``), ``ModelError`` (a model, weights or detector file missing, unreadable or not what was expected),
``DataError`` (a dataset: its folder, file names, CSV rows or labels)."""
from collections.abc import Iterable

FEW = 5  # how many of a long list a message names


def first_few(items: Iterable[object], separator: str = ", ", count: int = FEW) -> str:
    """The first ``count`` of ``items`` joined by ``separator``, then `` ...`` when there are more: how a message
    names the files, rows or ids it is about without naming thousands."""
    names = [str(item) for item in items]
    return separator.join(names[:count]) + (" ..." if len(names) > count else "")


class FaceKitError(Exception):
    """A problem the user can fix (missing file, bad value); shown without a traceback."""


class InputError(FaceKitError, ValueError):
    """A bad value, name, image or option given by the caller."""


class ModelError(FaceKitError):
    """A model, weights or detector file that is missing, unreadable, or not what was expected."""


class DataError(FaceKitError):
    """A dataset that cannot be read or used: its folder, file names, CSV rows or labels."""
