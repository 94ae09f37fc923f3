"""Projects dropped into the inbox become registered, queued projects.

A drop is a folder `inbox/<name>/` with files named person.*, garment.*, scene.*, and
audio.* or speech.* (transcript.txt optional). An optional settings.yaml sets what
`vidpipe new` takes as options (`DropSettings`): a drop of Mandarin speech needs
`language: zh`, since English recognition would drive the lips with wrong phonemes.
Folders still being copied (changed in the last few seconds) wait for the next tick. A
rejected drop stays where it is, with REJECTED.txt saying why; it is tried again once it
changes.
"""


import json
import shutil
import time
from pathlib import Path

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from vidpipe.errors import InputError, VidpipeError
from vidpipe.project import LanguageCode, OutputSettings
from vidpipe.partitions import project_partitions
from vidpipe.queue import enqueue
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.workspace import NewProjectRequest, Workspace, create_project

SETTLE_SECONDS = 5.0
ROLES = {"person": ("person",), "garment": ("garment",), "scene": ("scene",),
         "audio": ("audio", "speech"), "transcript": ("transcript",)}


def _newest_mtime(folder: Path) -> float:
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")])


SETTINGS_FILE = "settings.yaml"


class DropSettings(BaseModel):
    """The options of `vidpipe new` a drop may set in its settings.yaml. The size and rate
    are bounded where every project's are (`OutputSettings`)."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageCode = "en"
    seed: int = 1234
    width: int = 1280
    height: int = 720
    fps: int = 25


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: "
        + ("unknown setting" if e["type"] == "extra_forbidden"
           else e["msg"].removeprefix("Value error, "))
        for e in exc.errors())


def read_settings(path: Path) -> DropSettings:
    """settings.yaml of a drop (defaults when there is none); InputError names the file
    and every problem in it."""
    if not path.is_file():
        return DropSettings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return DropSettings()
    if not isinstance(data, dict):
        raise InputError(path, f"expected settings like 'language: zh', got a "
                               f"{type(data).__name__}")
    try:
        return DropSettings.model_validate(data)
    except ValidationError as exc:
        known = ", ".join(DropSettings.model_fields)
        raise InputError(path, f"{_problems(exc)} (settings: {known})") from None


def request_from_drop(folder: Path) -> NewProjectRequest:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            for role, stems in ROLES.items():
                if path.stem.lower() in stems:
                    found[role] = path
    missing = [r for r in ("person", "garment", "scene", "audio") if r not in found]
    if missing:
        raise VidpipeError(f"{folder}: missing {', '.join(missing)} "
                           "(name files person.*, garment.*, scene.*, audio.*)")
    settings = read_settings(folder / SETTINGS_FILE)
    try:
        output = OutputSettings(width=settings.width, height=settings.height, fps=settings.fps)
    except ValidationError as exc:
        raise InputError(folder / SETTINGS_FILE, _problems(exc)) from None
    return NewProjectRequest(name=folder.name, person=found["person"], garment=found["garment"],
                             scene=found["scene"], audio=found["audio"],
                             transcript=found.get("transcript"), output=output,
                             seed=settings.seed, language=settings.language)


def register_drops(ws: Workspace, seen: dict[str, float], now: float | None = None
                   ) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """Register settled drops not seen at their current mtime.

    Returns (registered names, {name: error}, updated seen map)."""
    now = time.time() if now is None else now
    registered, rejected = [], {}
    seen = dict(seen)
    if not ws.inbox_dir.is_dir():
        return registered, rejected, seen
    for folder in sorted(ws.inbox_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        mtime = _newest_mtime(folder)
        if now - mtime < SETTLE_SECONDS or seen.get(folder.name) == mtime:
            continue
        try:
            project = create_project(ws, request_from_drop(folder))
        except VidpipeError as exc:
            (folder / "REJECTED.txt").write_text(f"{exc}\n")
            rejected[folder.name] = str(exc)
            seen[folder.name] = _newest_mtime(folder)
            continue
        enqueue(ws, project.name, "dropped into the inbox")
        done = ws.inbox_dir / ".registered" / f"{folder.name}-{int(now)}"
        done.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), done)
        registered.append(project.name)
        seen.pop(folder.name, None)
    return registered, rejected, seen


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Registers and queues projects dropped into <workspace>/inbox/.")
def inbox_sensor(context: dg.SensorEvaluationContext, workspace: WorkspaceResource):
    seen = json.loads(context.cursor) if context.cursor else {}
    registered, rejected, seen = register_drops(workspace.workspace, seen)
    for name, error in rejected.items():
        context.log.warning(f"inbox drop {name} rejected: {error}")
    if not registered:
        return dg.SensorResult(skip_reason=dg.SkipReason(
            "no new drops" if not rejected else f"rejected: {', '.join(rejected)}"),
            cursor=json.dumps(seen))
    return dg.SensorResult(
        dynamic_partitions_requests=[project_partitions.build_add_request(registered)],
        cursor=json.dumps(seen))
