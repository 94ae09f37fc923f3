"""Demo inputs for tests, written once per session (they are deterministic)."""

from __future__ import annotations

from pathlib import Path

from vidpipe.demo.inputs import SPEECH, TRANSCRIPT


def demo_files(folder: Path) -> dict[str, Path]:
    from vidpipe.demo.images import write_demo_inputs

    files = dict(write_demo_inputs(folder))
    files["audio"] = SPEECH
    files["transcript"] = TRANSCRIPT
    return files
