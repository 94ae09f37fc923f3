"""Projects waiting for a batch render: a marker file in the project folder."""

from __future__ import annotations

from vidpipe.storage import write_text_atomic
from vidpipe.workspace import Workspace

MARKER = ".queued"


def enqueue(ws: Workspace, name: str, why: str = "") -> None:
    write_text_atomic(ws.project_dir(name) / MARKER, why or "queued")


def dequeue(ws: Workspace, name: str) -> None:
    (ws.project_dir(name) / MARKER).unlink(missing_ok=True)


def queued(ws: Workspace) -> list[str]:
    return [n for n in ws.project_names() if (ws.project_dir(n) / MARKER).is_file()]
