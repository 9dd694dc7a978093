"""Contracts of the ``stemlime`` process itself, each checked in a new Python process
(``python -m stemlime`` as a user runs it). Everything else about messages and exit statuses
runs in process through the ``cli`` fixture (``stemlime.cli.main(argv)`` returns the status);
these few keep the part that only a real process shows: the entry point, the status the shell
sees, output flushed on exit, exit handlers, interrupts and closed pipes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import PIECE, stemlime_cli, write_loudness_module


def test_help_lists_the_commands_and_exits_0():
    result = stemlime_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "explain" in result.stdout and "plugins" in result.stdout


def test_a_usage_error_exits_2_with_the_message_alone_on_stderr():
    result = stemlime_cli("bogus")
    assert result.returncode == 2
    assert "'stemlime bogus' is not a command" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_failure_exits_1_with_the_message_alone_on_stderr(tmp_path):
    write_loudness_module(tmp_path)
    result = stemlime_cli("explain", "missing.wav", "--tagger", f"python,object=mymodel:tagger,path={tmp_path}", "--out", "o", cwd=tmp_path)
    assert result.returncode == 1
    assert "missing.wav does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_closed_pipe_ends_the_command_quietly():
    process = subprocess.Popen([sys.executable, "-m", "stemlime", "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader left before the first line (stemlime plugins | head -0)
    error = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in error and "BrokenPipeError" not in error
    assert process.returncode in (0, 141)


def test_separate_works_from_the_shell(tmp_path):
    result = stemlime_cli("separate", str(PIECE / "mixture.wav"), "--separator", "oracle", "--duration", "1", "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s" / "vocals.wav").is_file()


QUICK_EXIT = """
import atexit, sys, tempfile, pathlib
import torch  # loaded: the command line leaves without the interpreter's teardown
from stemlime.cli import quick_exit

folder = pathlib.Path(tempfile.mkdtemp())
atexit.register(lambda: (folder / "atexit-ran").write_text("yes"))
print(folder)
sys.stdout.write("a line left in the buffer")
quick_exit(3)
"""


def test_the_command_line_leaves_quickly_with_its_status_its_output_and_its_exit_handlers():
    result = subprocess.run([sys.executable, "-c", QUICK_EXIT], capture_output=True, text=True)
    assert result.returncode == 3
    folder, rest = result.stdout.split("\n", 1)
    assert rest == "a line left in the buffer"
    assert (Path(folder) / "atexit-ran").read_text() == "yes"
    shutil.rmtree(folder)
