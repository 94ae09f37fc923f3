"""A project: a folder holding `project.yaml`, its inputs and everything rendered from them.

    <workspace>/projects/<name>/project.yaml
    <workspace>/projects/<name>/inputs/<role>-<sha256[:16]><ext>
    <workspace>/projects/<name>/renders/<asset>/<segment or content key>.<ext>
    <workspace>/projects/<name>/memory.json
    <workspace>/projects/<name>/<name>.mp4
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from vidpipe.errors import InputError
from vidpipe.partitions import slug_problem
from vidpipe.qa.models import QABounds
from vidpipe.storage import atomic_path, file_sha256, write_text_atomic

PROJECT_FILE = "project.yaml"


class OutputSettings(BaseModel):
    width: int = Field(1280, ge=64, le=7680)
    height: int = Field(720, ge=64, le=4320)
    fps: int = Field(25, ge=1, le=120)
    # Stages before the upscale render at output size / upscale_factor.
    upscale_factor: int = Field(2, ge=1, le=4)

    @model_validator(mode="after")
    def _even(self) -> "OutputSettings":
        if self.width % 2 or self.height % 2:
            raise ValueError("output width and height must be even (H.264 4:2:0)")
        return self

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def working_size(self) -> tuple[int, int]:
        w = max(2, (self.width // self.upscale_factor) // 2 * 2)
        h = max(2, (self.height // self.upscale_factor) // 2 * 2)
        return w, h


class SegmentationSettings(BaseModel):
    min_s: float = Field(3.0, gt=0)
    max_s: float = Field(8.0, gt=0)
    target_s: float = Field(5.0, gt=0)


class TimelineChange(BaseModel):
    """From `at` seconds on, the person stands in another scene and/or wears another garment."""

    at: float = Field(ge=0)
    scene: str | None = None
    garment: str | None = None

    @model_validator(mode="after")
    def _something(self) -> "TimelineChange":
        if not (self.scene or self.garment):
            raise ValueError("a timeline change needs a scene or a garment")
        return self


_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


def language_tag(code: str) -> str:
    """`code` as stored: lower case, "-" between parts (EN_gb -> en-gb)."""
    return str(code).strip().lower().replace("_", "-")


def language_problem(code: str) -> str | None:
    """Why `code` is not a language tag like en, zh or pt-br (None when it is one)."""
    if _LANGUAGE.fullmatch(language_tag(code)):
        return None
    return f"language {code!r} is not a language code like en, zh or pt-br"


def _checked_language(code) -> str:
    if problem := language_problem(code):
        raise ValueError(problem)
    return language_tag(code)


# A language field of any model: checked, and stored as `language_tag` writes it.
LanguageCode = Annotated[str, BeforeValidator(_checked_language)]


class ProjectInputs(BaseModel):
    """Paths relative to the project folder."""

    person: str
    garment: str
    scene: str
    audio: str
    transcript: str | None = None


class ProjectSpec(BaseModel):
    schema_version: int = 1
    name: str
    inputs: ProjectInputs
    output: OutputSettings = OutputSettings()
    backend: Literal["embedded", "comfyui"] = "embedded"
    # comfyui only: the model per stage, e.g. {tryon: catvton, lipsync: latentsync}
    comfyui: dict[str, str] = {}
    seed: int = 1234
    segmentation: SegmentationSettings = SegmentationSettings()
    timeline: list[TimelineChange] = []
    qa: QABounds = QABounds()  # bounds `vidpipe qa` and the video_qa checks hold renders to
    max_attempts: int = Field(3, ge=1, le=10)  # renders of a segment that fails its evaluation
    # Language of the speech. Without a transcript only English is recognised (the model
    # that ships with pocketsphinx); any other language makes the lips follow loudness.
    language: LanguageCode = "en"

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if problem := slug_problem(v):
            raise ValueError(problem)
        return v

    @field_validator("comfyui")
    @classmethod
    def _choices(cls, v: dict[str, str]) -> dict[str, str]:
        from vidpipe.render.comfyui.workflow import StageChoices

        StageChoices.model_validate(v)
        return v

    @field_validator("timeline")
    @classmethod
    def _sorted(cls, v: list[TimelineChange]) -> list[TimelineChange]:
        return sorted(v, key=lambda c: c.at)

    def look_at(self, t: float) -> tuple[str, str]:
        """(scene, garment) in force at time t seconds."""
        scene, garment = self.inputs.scene, self.inputs.garment
        for change in self.timeline:
            if change.at <= t:
                scene = change.scene or scene
                garment = change.garment or garment
        return scene, garment

    @property
    def change_times(self) -> list[float]:
        return [c.at for c in self.timeline if c.at > 0]


class Project:
    """A project folder on disk and its spec."""

    def __init__(self, folder: Path, spec: ProjectSpec):
        self.folder = Path(folder)
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def path(self, rel: str) -> Path:
        return self.folder / rel

    def render_path(self, asset: str, key: str, ext: str) -> Path:
        return self.folder / "renders" / asset / f"{key}{ext}"

    @property
    def memory_path(self) -> Path:
        return self.folder / "memory.json"

    @property
    def video_path(self) -> Path:
        return self.folder / f"{self.name}.mp4"

    @classmethod
    def load(cls, folder: Path) -> "Project":
        folder = Path(folder)
        spec_file = folder / PROJECT_FILE
        if not spec_file.is_file():
            raise InputError(spec_file, "no project here (project.yaml is missing)")
        try:
            data = yaml.safe_load(spec_file.read_text())
            spec = ProjectSpec.model_validate(data)
        except yaml.YAMLError as exc:
            raise InputError(spec_file, f"not valid YAML: {exc}".splitlines()[0]) from None
        except ValueError as exc:
            raise InputError(spec_file, _first_error(exc)) from None
        if spec.name != folder.name:
            raise InputError(spec_file, f"name {spec.name!r} differs from its folder {folder.name!r}")
        return cls(folder, spec)

    def save(self) -> None:
        text = yaml.safe_dump(self.spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
        write_text_atomic(self.folder / PROJECT_FILE, text)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    return str(exc).splitlines()[0]


def content_name(role: str, source: Path) -> str:
    """`<role>-<sha256[:16]><ext>`: re-adding the same file is a no-op, a changed file is new."""
    return f"{role}-{file_sha256(source)[:16]}{source.suffix.lower()}"


def copy_input(source: Path, folder: Path, role: str) -> str:
    """Copy an input into `folder/inputs/`, content-addressed; returns the relative path."""
    rel = f"inputs/{content_name(role, source)}"
    dest = folder / rel
    if not dest.exists():
        with atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)
    return rel
