"""Seeds locked per project, segment and stage: the same inputs always render the same bytes."""

from __future__ import annotations

import hashlib


def derive_seed(project_seed: int, *parts: str) -> int:
    """A 31-bit seed from the project's seed and a path of names (segment, stage)."""
    h = hashlib.sha256(str(project_seed).encode())
    for part in parts:
        h.update(b"/" + part.encode())
    return int.from_bytes(h.digest()[:4], "big") & 0x7FFFFFFF
