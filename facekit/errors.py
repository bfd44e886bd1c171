"""The one exception type that the command-line scripts turn into a one-line message."""
import sys


class FaceKitError(Exception):
    """A problem the user can fix (missing file, bad value); shown without a traceback."""


def exit_with_error(error):
    """What every script does with a FaceKitError: one line on stderr, exit status 2."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
