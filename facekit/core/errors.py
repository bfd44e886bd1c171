"""The one exception type that the command-line scripts turn into a one-line message (facekit.apps.cli)."""


class FaceKitError(Exception):
    """A problem the user can fix (missing file, bad value); shown without a traceback."""
