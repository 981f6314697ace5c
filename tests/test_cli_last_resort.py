"""The command line's last line of defence: an unexpected error is a message and exit code 1, never a
traceback (a traceback tells a user nothing and can carry text from a file to the terminal raw)."""

from __future__ import annotations

import pytest

from playground import cli
from playground.cli import design


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(args):
        raise KeyError("\x1b[2Jpayload")

    monkeypatch.setattr(design, "cmd_presets", broken)
    assert cli.main(["presets"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("playground: error: ") and "KeyError" in err and "Traceback" not in err
    assert "\x1b" not in err and len(err.splitlines()) == 1


def test_out_of_memory_is_a_message(monkeypatch, capsys):
    def hungry(args):
        raise MemoryError

    monkeypatch.setattr(design, "cmd_presets", hungry)
    assert cli.main(["presets"]) == 1
    assert "out of memory" in capsys.readouterr().err


def test_debug_shows_the_traceback(monkeypatch):
    def broken(args):
        raise KeyError("x")

    monkeypatch.setattr(design, "cmd_presets", broken)
    monkeypatch.setenv("PLAYGROUND_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["presets"])


def test_a_usage_error_quoting_a_file_is_escaped(monkeypatch, capsys):
    def refuses(args):
        raise cli.UsageError("design.json: name '\x1b]0;pwned\x07' is odd\nsecond line")

    monkeypatch.setattr(design, "cmd_presets", refuses)
    assert cli.main(["presets"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;pwned\\x07" in err
    assert err.splitlines()[1] == "second line"
