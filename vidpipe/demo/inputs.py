"""The built-in demo project: public-domain photos from scikit-image, a garment drawn by
vidpipe, and speech synthesised with flite (shipped as a small wav)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vidpipe.project import OutputSettings, Project
from vidpipe.workspace import NewProjectRequest, Workspace, create_project

DEMO_DIR = Path(__file__).parent
SPEECH = DEMO_DIR / "speech.wav"
TRANSCRIPT = DEMO_DIR / "transcript.txt"


def write_demo_project(ws: Workspace, name: str = "demo",
                       output: OutputSettings | None = None) -> Project:
    """Create the demo project (or return it if it exists)."""
    from vidpipe.demo.images import write_demo_inputs

    folder = ws.project_dir(name)
    if (folder / "project.yaml").is_file():
        return Project.load(folder)
    with tempfile.TemporaryDirectory(prefix="vidpipe-demo-") as tmp:
        files = write_demo_inputs(Path(tmp))
        req = NewProjectRequest(name=name, person=files["person"], garment=files["garment"],
                                scene=files["scene"], audio=SPEECH, transcript=TRANSCRIPT,
                                output=output or OutputSettings())
        return create_project(ws, req)
