"""The workspace: the folder with dagster.yaml and workspace.yaml, holding projects and the inbox.

Creating a project validates every input before anything is written; the project folder is
assembled under a temporary name and renamed into place, so a rejected input leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import InputError
from vidpipe.partitions import slug_problem
from vidpipe.project import (OutputSettings, Project, ProjectInputs, ProjectSpec, TimelineChange,
                             copy_input, language_problem)

WORKSPACE_ENV = "VIDPIPE_WORKSPACE"


def find_workspace(start: Path | None = None) -> Path:
    """$VIDPIPE_WORKSPACE, else the nearest folder upwards holding workspace.yaml, else cwd."""
    if env := os.environ.get(WORKSPACE_ENV):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "workspace.yaml").is_file() and (folder / "dagster.yaml").is_file():
            return folder
    return here


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "inbox"

    def project_dir(self, name: str) -> Path:
        if problem := slug_problem(name):
            raise InputError(None, problem)
        return self.projects_dir / name

    def project(self, name: str) -> Project:
        folder = self.project_dir(name)
        if not folder.is_dir():
            raise InputError(folder, f"no project named {name!r} in {self.projects_dir}")
        return Project.load(folder)

    def project_names(self) -> list[str]:
        if not self.projects_dir.is_dir():
            return []
        return sorted(p.name for p in self.projects_dir.iterdir()
                      if (p / "project.yaml").is_file() and not p.name.startswith("."))


@dataclass
class NewProjectRequest:
    name: str
    person: Path
    garment: Path
    scene: Path
    audio: Path
    transcript: Path | None = None
    changes: list[tuple[float, Path | None, Path | None]] | None = None  # (at, scene, garment)
    output: OutputSettings | None = None
    seed: int = 1234
    backend: str = "embedded"
    language: str = "en"  # of the speech; a tag like en, zh, pt-br


def validate_inputs(req: NewProjectRequest) -> None:
    """Every check a project's inputs must pass; raises InputError naming the file."""
    from vidpipe.media.audio import validate_speech
    from vidpipe.media.images import (validate_garment_photo, validate_person_photo,
                                      validate_scene_photo)

    if problem := slug_problem(req.name):
        raise InputError(None, problem)
    if problem := language_problem(req.language):
        raise InputError(None, f"{problem} (pass --language CODE)")
    validate_person_photo(req.person)
    validate_garment_photo(req.garment)
    validate_scene_photo(req.scene)
    for _, scene, garment in req.changes or []:
        if scene is not None:
            validate_scene_photo(scene)
        if garment is not None:
            validate_garment_photo(garment)
    validate_speech(req.audio)
    if req.transcript is not None:
        read_transcript(req.transcript)


def read_transcript(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except UnicodeDecodeError:
        raise InputError(path, "transcript is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    if not text.strip():
        raise InputError(path, "transcript is empty")
    return text


def create_project(ws: Workspace, req: NewProjectRequest) -> Project:
    final = ws.project_dir(req.name)
    if final.exists():
        raise InputError(final, f"project {req.name!r} already exists")
    validate_inputs(req)
    ws.projects_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{req.name}.", dir=ws.projects_dir))
    try:
        inputs = ProjectInputs(
            person=copy_input(req.person, staging, "person"),
            garment=copy_input(req.garment, staging, "garment"),
            scene=copy_input(req.scene, staging, "scene"),
            audio=copy_input(req.audio, staging, "audio"),
            transcript=copy_input(req.transcript, staging, "transcript") if req.transcript else None,
        )
        timeline = [
            TimelineChange(
                at=at,
                scene=copy_input(scene, staging, "scene") if scene else None,
                garment=copy_input(garment, staging, "garment") if garment else None,
            )
            for at, scene, garment in (req.changes or [])
        ]
        spec = ProjectSpec(name=req.name, inputs=inputs, output=req.output or OutputSettings(),
                           seed=req.seed, backend=req.backend, timeline=timeline,
                           language=req.language)
        Project(staging, spec).save()
        os.rename(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return Project.load(final)
