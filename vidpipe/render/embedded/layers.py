"""The layered composite that the composite stage writes and the motion stage animates.

Keeping the scene, the person and the shadow as separate layers lets every frame be
re-composed from the same anchors (the original try-on and scene), never from a previous
frame, which is the continuity rule of the architecture notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class CompositeLayers:
    """All arrays share the working frame size H x W.

    background: H x W x 3 uint8, the scene fitted to the frame (no person).
    person:     H x W x 4 uint8 RGBA, the matted, relit person placed in frame coordinates.
    shadow:     H x W float32 in [0, 1], opacity of the contact/cast shadow on the background.
    anchor:     (x, y) pixel where the person's base touches the ground, in frame coordinates.
    scale:      pixels in the frame per pixel of the try-on image.
    rig:        head, neck and shoulders found on the person layer when the composite was
                made (`motion.Rig` fields), or None. Stored with the layers so that every
                segment's motion stage reuses it instead of loading a pose model again.
    """

    background: np.ndarray
    person: np.ndarray
    shadow: np.ndarray
    anchor: tuple[float, float]
    scale: float
    rig: dict | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame."""
        h, w = self.background.shape[:2]
        return w, h


SHADOW_STRENGTH = 0.55  # how much of the background's light a full contact shadow takes


def compose(background: np.ndarray, person_rgba: np.ndarray, shadow: np.ndarray,
            shadow_strength: float = SHADOW_STRENGTH) -> np.ndarray:
    """The one blend used for the still composite and for every animated frame."""
    bg = background.astype(np.float32)
    bg *= (1.0 - shadow_strength * shadow.astype(np.float32))[..., None]
    alpha = person_rgba[..., 3:4].astype(np.float32) / 255.0
    out = person_rgba[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def compose_layers(layers: CompositeLayers) -> np.ndarray:
    return compose(layers.background, layers.person, layers.shadow)


def save_layers(path: Path, layers: CompositeLayers) -> None:
    """Write to `path` exactly (caller handles the atomic rename); compressed npz."""
    with open(path, "wb") as fh:
        np.savez_compressed(
            fh,
            background=layers.background,
            person=layers.person,
            shadow=layers.shadow.astype(np.float16),
            anchor=np.asarray(layers.anchor, dtype=np.float64),
            scale=np.asarray(layers.scale, dtype=np.float64),
            **({"rig": np.asarray(json.dumps(layers.rig))} if layers.rig is not None else {}),
        )


def load_layers(path: Path) -> CompositeLayers:
    with np.load(path) as z:
        return CompositeLayers(
            background=z["background"],
            person=z["person"],
            shadow=z["shadow"].astype(np.float32),
            anchor=tuple(float(v) for v in z["anchor"]),
            scale=float(z["scale"]),
            rig=json.loads(str(z["rig"])) if "rig" in z.files else None,
        )
