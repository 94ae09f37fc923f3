"""Content-addressed outputs: a stage's file is reused when its cache key is unchanged.

A key hashes everything that decides the output (input keys, parameters, seed, the stage's
code_version). The key is stored beside the file in `<file>.key.json` with the stage's facts,
written after the file itself, so a file without a matching key is always redone.
"""

from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vidpipe.render.base import StageFacts
from vidpipe.storage import atomic_path, write_text_atomic


@dataclass
class StageResult:
    path: Path
    key: str
    cached: bool
    seconds: float
    info: dict = field(default_factory=dict)
    fell_back: str | None = None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".key.json")


def read_cached(path: Path, key: str) -> StageResult | None:
    side = _sidecar(path)
    if not (path.is_file() and side.is_file()):
        return None
    try:
        record = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("key") != key:
        return None
    return StageResult(path=path, key=key, cached=True, seconds=float(record.get("seconds", 0.0)),
                       info=record.get("info", {}), fell_back=record.get("fell_back"))


def is_current(path: Path, key: str) -> bool:
    return read_cached(path, key) is not None


@contextmanager
def _exclusive(path: Path):
    """One producer per output at a time, across processes: segments rendered in parallel
    that share a still wait for the first one and then reuse its file."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def produce(path: Path, key: str, make: Callable[[Path], StageFacts]) -> StageResult:
    """Return the cached output for `key`, or run `make(tmp_path)` and rename it into place."""
    if (hit := read_cached(path, key)) is not None:
        return hit
    with _exclusive(path):
        if (hit := read_cached(path, key)) is not None:
            return hit
        return _make(path, key, make)


def _make(path: Path, key: str, make: Callable[[Path], StageFacts]) -> StageResult:
    start = time.perf_counter()
    with atomic_path(path) as tmp:
        facts = make(tmp)
    seconds = time.perf_counter() - start
    write_text_atomic(_sidecar(path), json.dumps(
        {"key": key, "seconds": seconds, "info": facts.info, "fell_back": facts.fell_back},
        default=str))
    return StageResult(path=path, key=key, cached=False, seconds=seconds, info=facts.info,
                       fell_back=facts.fell_back)
