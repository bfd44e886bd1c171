"""Every command's --help prints its usage and exits 0: a help string argparse cannot format is a traceback."""
import importlib

import pytest

SCRIPTS = ["face", "face_demo", "face_video_demo", "face_server", "face_train"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_usage_and_exits_0(script, capsys):
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--help" in out
