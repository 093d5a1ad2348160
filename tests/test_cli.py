"""The `aufera` command as a whole."""

import subprocess
import sys


def test_building_the_command_does_not_import_tensorflow():
    # `aufera synth --help` and argument errors must stay instant: TensorFlow
    # is imported only by the subcommands that need it, when they run.
    code = (
        "import sys, aufera.cli; aufera.cli.build_parser(); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_every_subcommand_is_listed():
    result = subprocess.run([sys.executable, "-m", "aufera.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for name in ("synth", "prepare", "train", "evaluate", "reproduce"):
        assert name in result.stdout


def test_reproduce_rejects_bad_arguments_in_one_line_and_writes_nothing(tmp_path, capsys):
    from aufera.cli import main

    out = tmp_path / "r"
    for argv, message in (
        (["--seed", "-1"], "aufera reproduce: error: --seed must be >= 0. Received: -1\n"),
        (["--workers", "0"], "aufera reproduce: error: --workers must be >= 1. Received: 0\n"),
    ):
        assert main(["reproduce", "--out", str(out), *argv]) == 2
        assert capsys.readouterr().err == message
    assert not out.exists()
