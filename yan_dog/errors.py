"""The error a person's own input causes (a name, a number, a file), as opposed to a bug in yan-dog.

`yan-dog` reports a `UserError` as one line, `yan-dog: error: <message>`, and exits with status 1; any
other exception is a bug and keeps its traceback. Why a class of its own: the command line can then tell
the two apart without catching every ValueError or OSError, which would hide real bugs.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the person using yan-dog; its message is one line that says what to change."""


def one_line(error: object) -> str:
    """An exception's (or any object's) message on one line: whitespace runs, newlines included, become
    one space."""
    return " ".join(str(error).split())
