"""The library's log messages, collected where a test checks what a user would read."""
import contextlib
import logging


@contextlib.contextmanager
def logged_messages(name="facekit", level=logging.INFO):
    """The messages (their text, in order) that the ``name`` loggers give at ``level`` and above inside the block,
    whatever handlers a script installed; the level is put back after."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = logging.getLogger(name), Collect(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
