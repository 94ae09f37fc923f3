"""Files on disk: atomic writes, content hashes and small previews for metadata.

Every output is written to a temporary name in its final folder and renamed into place, so
a crash never leaves half a file under the real name.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_version(path: Path) -> tuple[int, int, int, int]:
    """(device, inode, size, mtime_ns): names one version of a file for in-process caches.
    It survives the atomic rename into place (`atomic_path`), and any rewrite changes it."""
    st = Path(path).stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def stable_hash(*parts: object) -> str:
    """Hash of JSON-serialisable parts; used for cache keys of stage outputs."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # elsewhere: read it by setting it (and put it back at once)
    os.umask(old)
    return old


NEW_FILE_MODE = 0o666 & ~_umask()


def publish(tmp: str | Path, final: str | Path) -> None:
    """Rename a finished temporary file into place with the mode a new file gets. Temporary
    files are made private (mkstemp: 0600) and would keep that, so a video, a project file
    or a render would be unreadable to the rest of a team sharing the workspace."""
    os.chmod(tmp, NEW_FILE_MODE)
    os.replace(tmp, final)


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it into place only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}",
                               dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publish(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final: Path, text: str) -> None:
    write_bytes_atomic(final, text.encode("utf-8"))


def write_image_atomic(final: Path, image: np.ndarray) -> None:
    """PNG/JPEG by suffix; uint8 RGB, RGBA or grey, or uint16 grey."""
    from PIL import Image

    fmt = "PNG" if final.suffix.lower() == ".png" else "JPEG"
    with atomic_path(final) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))


def read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else im.mode))


def thumbnail_markdown(image: np.ndarray, caption: str = "preview", max_side: int = 128) -> str:
    """Markdown with an inline PNG that the Dagster UI renders in its metadata dialog."""
    from vidpipe.media.video import thumbnail_png

    b64 = base64.b64encode(thumbnail_png(image, max_side)).decode()
    return f"![{caption}](data:image/png;base64,{b64})"
