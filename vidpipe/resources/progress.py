"""Progress reporting from inside runs: the CLI swaps in a progress bar, Dagster just logs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StageEvent:
    project: str
    segment: str | None
    stage: str
    status: str  # "started" | "done" | "cached" | "failed" | "skipped"
    seconds: float = 0.0
    detail: str = ""


class Progress:
    """The default reporter: does nothing beyond Dagster's own logs."""

    def __call__(self, event: StageEvent) -> None:
        return None
