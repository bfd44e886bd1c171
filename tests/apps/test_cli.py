"""The scripts' shared options (facekit/apps/cli.py): -q / -v and the handler that shows the library's messages as
the scripts printed them."""
import argparse
import logging

import pytest

import face_train
from facekit.apps.cli import ConsoleHandler, add_verbosity_arguments, setup_logging


@pytest.fixture
def restored_logging():
    package = logging.getLogger("facekit")
    handlers, level = list(package.handlers), package.level
    yield package
    package.handlers[:] = handlers
    package.setLevel(level)


def _parsed(*argv):
    parser = argparse.ArgumentParser()
    add_verbosity_arguments(parser)
    return parser.parse_args(argv)


def test_messages_go_to_stdout_warnings_to_stderr_and_q_and_v_choose_the_level(restored_logging, capsys):
    logger = logging.getLogger("facekit.data.example")
    for argv, shown in (((), ("info", "warning")), (("-q",), ("warning",)), (("-v",), ("debug", "info", "warning"))):
        setup_logging(_parsed(*argv))
        logger.debug("debug")
        logger.info("info")
        logger.warning("warning")
        captured = capsys.readouterr()
        assert captured.out.split() == [level for level in ("debug", "info") if level in shown]
        assert captured.err.split() == ["warning"]  # -q hides information, never a warning
    assert sum(isinstance(h, ConsoleHandler) for h in restored_logging.handlers) == 1  # replaced, not added
    with pytest.raises(SystemExit):
        _parsed("-q", "-v")


def test_face_train_takes_q(restored_logging, tiny_utkface, capsys):
    with pytest.raises(SystemExit):
        face_train.main(["-q", "--evaluate", "missing.keras", "--data", str(tiny_utkface)])
    assert restored_logging.level == logging.WARNING and "model file not found" in capsys.readouterr().err


def test_verbose_shows_the_cause_of_an_error_and_the_default_one_line(restored_logging, tmp_path, capsys):
    """Errors keep their cause (``raise ... from error``), and -v prints the chain before the one line."""
    bad = tmp_path / "m.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    for flags, chain in (([], False), (["-v"], True)):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(["--evaluate", str(bad), "--data", str(tmp_path), *flags])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.strip().splitlines()[-1].startswith("error: ")
        assert ("Traceback" in err) == chain
