"""Metadata every asset returns: path, size, timing, media facts and a thumbnail."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import dagster as dg
import numpy as np

from vidpipe.cache import StageResult
from vidpipe.storage import file_version, thumbnail_markdown


THUMB_SIDE = 128


def _preview_frame(path: Path, video_size: tuple[int, int] | None = None) -> np.ndarray | None:
    suffix = path.suffix.lower()
    try:
        if suffix in (".png", ".jpg", ".jpeg"):
            from PIL import Image

            with Image.open(path) as im:
                if im.mode in ("I;16", "I"):
                    arr = np.asarray(im).astype(np.float32)
                    return (arr / max(arr.max(), 1.0) * 255).astype(np.uint8)
                return np.asarray(im.convert("RGB"))
        if suffix == ".npz":
            still = path.with_suffix(".png")
            return _preview_frame(still) if still.is_file() else None
        if suffix == ".mp4" and video_size is not None:
            from vidpipe.media.video import first_frame

            w, h = video_size
            k = min(1.0, THUMB_SIDE / max(w, h))
            return first_frame(path, (max(2, round(w * k)), max(2, round(h * k))))
    except Exception:  # a thumbnail is a courtesy; never fail an asset over it
        return None
    return None


def stage_metadata(result: StageResult, **extra) -> dict:
    path = result.path
    meta: dict = {
        "path": dg.MetadataValue.path(str(path)),
        "bytes": path.stat().st_size,
        "stage_seconds": round(result.seconds, 3),
        "cached": result.cached,
        "cache_key": result.key,
    }
    if result.fell_back:
        meta["fell_back"] = result.fell_back
    for k, v in result.info.items():
        if isinstance(v, (int, float, str, bool)):
            meta[k] = v
    size = None
    if path.suffix.lower() == ".mp4":
        from vidpipe.media.video import probe_video

        info = probe_video(path)
        meta["frames"] = info.n_frames
        meta["duration_s"] = round(info.duration_s, 4)
        meta["resolution"] = f"{info.width}x{info.height}"
        size = (info.width, info.height)
    preview = _preview(path, size, file_version(path))
    if preview is not None:
        meta["preview"] = dg.MetadataValue.md(preview)
    meta.update(extra)
    return meta


@lru_cache(maxsize=64)
def _preview(path: Path, size: tuple[int, int] | None, version: tuple) -> str | None:
    """The thumbnail of one version of a file (`storage.file_version`): a worker records
    the project's shared stills in every segment run it renders."""
    frame = _preview_frame(path, size)
    return None if frame is None else thumbnail_markdown(frame, caption=path.name,
                                                         max_side=THUMB_SIDE)


def timed(step, *args):
    """`step(*args)` and its wall seconds. Assets record them as `work_seconds`, as the
    segment stages do, so that the time a run spends in vidpipe's code (imports and cache
    reads included) can be told from the time it spends in Dagster."""
    started = time.perf_counter()
    result = step(*args)
    return result, round(time.perf_counter() - started, 3)
