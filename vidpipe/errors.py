"""Errors a user can act on.

Every problem with a user's input is raised as `InputError`, which names the file and the
problem in one line; the CLI prints it without a traceback. Inner code raises `StageError`
for failures while rendering, which the pipeline records in the memory state.
"""

from __future__ import annotations

from pathlib import Path


class VidpipeError(Exception):
    """Base class for errors that vidpipe reports to the user in one line."""


class InputError(VidpipeError):
    """A user-supplied file or value is unusable: names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class StageError(VidpipeError):
    """A render stage could not produce its output for a reason worth recording."""
