"""Errors from a ComfyUI server, worded so a user can act on them.

Every error names the server, and where ComfyUI tells us, the node id, its class_type, the
title it has in our workflow and the input at fault. `ComfyUnavailable` is the one the
server pool catches to move work to another server; the others are honest failures of the
stage and are not retried elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.errors import StageError


class ComfyError(StageError):
    """Anything that went wrong talking to, or running a graph on, a ComfyUI server."""


class ComfyUnavailable(ComfyError):
    """The server did not answer (refused, reset, timed out, or kept failing with 5xx)."""

    def __init__(self, url: str, what: str):
        self.url = url
        super().__init__(f"ComfyUI at {url} is not answering ({what}); start it or check "
                         f"--comfy-url")


class WorkflowError(ComfyError):
    """A workflow file or its sidecar does not fit together (names the file and the fix)."""


@dataclass(frozen=True)
class NodeProblem:
    """One complaint of the server about one node of our graph."""

    node_id: str | None
    class_type: str | None
    title: str | None
    input_name: str | None
    kind: str  # the server's error type, e.g. value_not_in_list
    message: str
    details: str = ""

    def __str__(self) -> str:
        where = _node_label(self.node_id, self.class_type, self.title)
        inp = f", input '{self.input_name}'" if self.input_name else ""
        detail = f": {self.details}" if self.details and self.details not in self.message else ""
        return f"{where}{inp}: {self.message}{detail} [{self.kind}]"


def _node_label(node_id: str | None, class_type: str | None, title: str | None) -> str:
    parts = [f"node {node_id}" if node_id is not None else "graph"]
    if title:
        parts.append(f"'{title}'")
    if class_type:
        parts.append(f"({class_type})")
    return " ".join(parts)


class ComfyValidationError(ComfyError):
    """POST /prompt refused the graph (400), or dropped one of the outputs we need."""

    def __init__(self, url: str, workflow: str, problems: list[NodeProblem], summary: str = ""):
        self.url = url
        self.workflow = workflow
        self.problems = problems
        lines = "; ".join(str(p) for p in problems) or summary or "no details given"
        super().__init__(f"ComfyUI at {url} refused workflow {workflow}: {lines}")


class ComfyExecutionError(ComfyError):
    """A node raised while the prompt ran (execution_error)."""

    def __init__(self, url: str, workflow: str, node_id: str | None, class_type: str | None,
                 title: str | None, exception_type: str, exception_message: str,
                 inputs: list[str] | None = None):
        self.url = url
        self.workflow = workflow
        self.node_id = node_id
        self.class_type = class_type
        self.title = title
        self.exception_type = exception_type
        self.exception_message = exception_message
        self.inputs = inputs or []
        msg = exception_message.strip().splitlines()[0] if exception_message.strip() else ""
        ins = f" (its inputs: {', '.join(self.inputs)})" if self.inputs else ""
        super().__init__(f"ComfyUI at {url} failed in workflow {workflow} at "
                         f"{_node_label(node_id, class_type, title)}: {exception_type}: {msg}{ins}")


class ComfyInterrupted(ComfyError):
    """The prompt was interrupted (by us at the time limit, or by someone on the server)."""

    def __init__(self, url: str, workflow: str, node_id: str | None, class_type: str | None,
                 title: str | None):
        self.url = url
        self.node_id = node_id
        super().__init__(f"ComfyUI at {url} interrupted workflow {workflow} at "
                         f"{_node_label(node_id, class_type, title)}")


class ComfyTimeout(ComfyError):
    """The stage ran past its time limit; the prompt was removed from the queue and an
    interrupt was sent for it.

    ComfyUI stops cooperatively: a running node finishes (or reaches its next progress
    step) before the interrupt takes effect, so the server may stay busy a little longer
    (seen live: a slow CPU node ran on for about 37 s)."""

    def __init__(self, url: str, workflow: str, limit_s: float, last_node: str | None):
        self.url = url
        self.limit_s = limit_s
        at = f" (last running: {last_node})" if last_node else ""
        super().__init__(f"ComfyUI at {url}: workflow {workflow} ran past its {limit_s:g} s "
                         f"limit{at}; it was taken off the queue and interrupted (ComfyUI "
                         f"stops at the next node or progress step); raise the stage's "
                         f"timeout or check the server")
