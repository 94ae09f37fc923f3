"""The one interface every render backend implements.

Stages exchange files, not Python objects, so the same assets drive the embedded CPU
renderer and a ComfyUI server: each method reads input paths and writes its output to the
exact path it is given (the caller renames it into place), returning small facts for
metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vidpipe.media.features import FrameFeatures


@dataclass
class StageFacts:
    """What a stage reports about the file it wrote."""

    info: dict = field(default_factory=dict)
    fell_back: str | None = None  # set when a stage used a fallback; says which and why


class RenderBackend(Protocol):
    name: str

    def tryon(self, person: Path, garment: Path, out_png: Path, *, seed: int) -> StageFacts: ...

    def matte(self, image: Path, out_png: Path) -> StageFacts: ...

    def depth(self, scene: Path, out_png: Path) -> StageFacts: ...

    def composite(self, cutout_png: Path, scene: Path, depth_png: Path, scene_info: dict,
                  frame_size: tuple[int, int], out_png: Path, out_layers: Path, *,
                  seed: int) -> StageFacts: ...

    def motion(self, composite_png: Path, layers: Path, features: FrameFeatures, out_mp4: Path, *,
               seed: int, join_seed: int | None = None) -> StageFacts:
        """`join_seed`: for a retried segment, the seed its neighbours used; the motion
        must meet theirs at the segment's first and last frame (`render.continuity`)."""
        ...

    def lipsync(self, clip: Path, features: FrameFeatures, out_mp4: Path, *, audio: Path,
                seed: int) -> StageFacts: ...

    def upscale(self, clip: Path, size: tuple[int, int], out_mp4: Path) -> StageFacts: ...
