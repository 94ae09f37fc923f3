"""Local pre- and post-processing around the ComfyUI workflows.

The server does the generation; these plain functions make what the graphs take (a torso
mask for try-on, the person laid out in the scene for the composite, a speech-driven
driving clip for motion) and bring what comes back to the file contract of the stages
(16-bit depth PNG with its metadata, RGBA cutout, layers npz, clips of the exact size,
frame count and rate the plan expects).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidpipe.media.features import FrameFeatures


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def read_grey(path: Path) -> np.ndarray:
    """Grey float32 in [0, 1] from an 8- or 16-bit, grey or colour PNG."""
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I"):
            arr = np.asarray(im).astype(np.float32)
            return arr / (65535.0 if arr.max() > 255 else 255.0)
        return np.asarray(im.convert("L")).astype(np.float32) / 255.0


def save_png(path: Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.fromarray(image).save(path, format="PNG", pnginfo=info)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if image.shape[1] == w and image.shape[0] == h:
        return image
    shrink = w * h < image.shape[1] * image.shape[0]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def fit_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover `size` (w, h) and centre-crop: the scene as the frame shows it."""
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    scaled = resize(image, (nw, nh))
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(scaled[y0:y0 + h, x0:x0 + w])


# --- try-on ----------------------------------------------------------------------------------

def torso_mask(person_rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """Where the garment goes on the person (uint8 0/255) and how it was found.

    From the pose (shoulders, hips, elbows) when mediapipe finds one; otherwise the middle
    band of the frame, which is right for the usual waist-up portrait.
    """
    h, w = person_rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    pose = None
    try:
        from vidpipe.render.embedded.landmarks import detect_pose

        pose = detect_pose(person_rgb)
    except Exception:  # no mediapipe, or it failed on this image: use the band
        pose = None
    if pose is not None and pose.visible(11) and pose.visible(12):
        p = pose.points
        sh_l, sh_r = p[11], p[12]
        width = float(np.linalg.norm(sh_l - sh_r))
        hips = [p[i] for i in (23, 24) if pose.visible(i, 0.3)]
        bottom = max(q[1] for q in hips) if hips else h - 1
        poly = np.array([sh_l + (width * 0.15, -width * 0.1), sh_r + (-width * 0.15, -width * 0.1),
                         (sh_r[0] - width * 0.1, bottom), (sh_l[0] + width * 0.1, bottom)],
                        np.int32)
        cv2.fillConvexPoly(mask, poly, 255)
        for a, b in ((11, 13), (12, 14)):
            if pose.visible(b, 0.3):
                cv2.line(mask, tuple(int(v) for v in p[a]), tuple(int(v) for v in p[b]), 255,
                         max(2, int(width * 0.22)))
        return mask, "pose"
    mask[int(h * 0.30):int(h * 0.85), int(w * 0.18):int(w * 0.82)] = 255
    return mask, "band"


# --- depth -----------------------------------------------------------------------------------

def depth_png16(depth: np.ndarray, scene_rgb: np.ndarray) -> tuple[np.ndarray, dict]:
    """A model's depth image (near = bright) as the depth stage's 16-bit PNG and metadata.

    The metadata matches the embedded backend's: the horizon row from the scene photo and
    the band of rows below it where the ground is visible.
    """
    from vidpipe.analysis.scene import estimate_horizon

    h, w = scene_rgb.shape[:2]
    d = resize(depth.astype(np.float32), (w, h))
    lo, hi = np.percentile(d, [0.5, 99.5])
    d = np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)
    horizon = float(estimate_horizon(scene_rgb).row * h)
    top = int(np.clip(horizon, 0, h - 1))
    meta = {"horizon_row": horizon, "ground_rows": [float(top), float(h - 1)]}
    return np.clip(d * 65535.0 + 0.5, 0, 65535).astype(np.uint16), meta


# --- composite -------------------------------------------------------------------------------

PERSON_HEIGHT = 0.9  # share of the frame height the person's box takes (medium shot)


@dataclass
class Layout:
    image: np.ndarray  # H x W x 3: the person pasted on the scene fitted to the frame
    mask: np.ndarray  # H x W uint8: where the model may repaint (edges, contact shadow)
    depth: np.ndarray  # H x W x 3 uint8: the depth map fitted like the scene
    anchor: tuple[float, float]
    scale: float


def layout(cutout_rgba: np.ndarray, scene_rgb: np.ndarray, depth: np.ndarray,
           frame_size: tuple[int, int]) -> Layout:
    """Stand the person on the bottom centre of the frame, at a medium-shot size."""
    w, h = frame_size
    bg = fit_cover(scene_rgb, frame_size).astype(np.float32)
    dmap = fit_cover((np.clip(depth, 0, 1) * 255).astype(np.uint8), frame_size)
    alpha = cutout_rgba[..., 3]
    ys, xs = np.nonzero(alpha > 8)
    if len(ys) == 0:
        ys, xs = np.array([0, alpha.shape[0] - 1]), np.array([0, alpha.shape[1] - 1])
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = cutout_rgba[y0:y1, x0:x1]
    scale = min(PERSON_HEIGHT * h / crop.shape[0], 0.95 * w / crop.shape[1])
    pw, ph = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    person = resize(crop, (pw, ph)).astype(np.float32)
    px, py = (w - pw) // 2, h - ph
    canvas = np.zeros((h, w, 4), np.float32)
    canvas[py:py + ph, px:px + pw] = person[: h - py, : w - px]
    a = canvas[..., 3:4] / 255.0
    image = np.clip(canvas[..., :3] * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    hard = (canvas[..., 3] > 127).astype(np.uint8)
    k = max(3, int(round(min(w, h) * 0.03)) | 1)
    ring = cv2.dilate(hard, np.ones((k, k), np.uint8)) - cv2.erode(hard, np.ones((k, k), np.uint8))
    mask = ring * 255
    foot_h = max(2, int(h * 0.06))
    cv2.ellipse(mask, (w // 2, h - 1), (max(2, int(pw * 0.45)), foot_h), 0, 0, 360, 255, -1)
    return Layout(image=image, mask=mask, depth=np.repeat(dmap[..., None], 3, axis=2),
                  anchor=(float(w / 2), float(h - 1)), scale=float(scale))


def write_layers(path: Path, still: np.ndarray, anchor: tuple[float, float], scale: float,
                 references: dict[str, Path]) -> None:
    """The composite's layers file: background = the still, no person, no shadow.

    Same keys as `embedded.layers.save_layers`, so `load_layers` reads it; the original
    try-on and scene files ride along byte for byte (`reference_<name>`, with their suffix
    in `reference_suffixes`) so the motion stage gives its workflow the very same anchors
    (and, their content hash being the same, uploads nothing new).
    """
    h, w = still.shape[:2]
    extra = {f"reference_{k}": np.frombuffer(Path(p).read_bytes(), np.uint8)
             for k, p in references.items()}
    suffixes = json.dumps({k: Path(p).suffix.lower() for k, p in references.items()})
    with open(path, "wb") as fh:
        np.savez_compressed(fh, background=still[..., :3], person=np.zeros((h, w, 4), np.uint8),
                            shadow=np.zeros((h, w), np.float16),
                            anchor=np.asarray(anchor, np.float64),
                            scale=np.asarray(scale, np.float64),
                            reference_suffixes=np.frombuffer(suffixes.encode(), np.uint8), **extra)


def read_references(path: Path, folder: Path) -> dict[str, Path]:
    """Write the reference files kept in a layers file into `folder`; name -> path."""
    out: dict[str, Path] = {}
    with np.load(path) as z:
        if "reference_suffixes" not in z.files:
            return out
        suffixes = json.loads(z["reference_suffixes"].tobytes().decode())
        for name, suffix in suffixes.items():
            dest = Path(folder) / f"reference_{name}{suffix}"
            dest.write_bytes(z[f"reference_{name}"].tobytes())
            out[name] = dest
    return out


def read_anchor(path: Path) -> tuple[float, float]:
    with np.load(path) as z:
        return tuple(float(v) for v in z["anchor"])


# --- motion ----------------------------------------------------------------------------------

def _sway(features: FrameFeatures, seed: int, n_frames: int, h: int) -> np.ndarray:
    """(angle_deg, lift_px) of each driving frame: a pure function of the absolute frame
    time and the seed."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi, 3)
    n_feat = features.n_frames
    out = np.zeros((n_frames, 2))
    for i in range(n_frames):
        j = min(n_feat - 1, int(i * n_feat / max(n_frames, 1)))
        t = (features.first_frame + j) / features.fps
        e = float(features.emphasis[j]) if n_feat else 0.0
        v = float(features.voiced[j]) if n_feat else 0.0
        out[i, 0] = (1.5 * e * math.sin(2 * math.pi * 0.37 * t + phase[0])
                     + 0.35 * math.sin(2 * math.pi * t / 4.2 + phase[1]))
        out[i, 1] = -h * (0.004 * e + 0.002 * v * math.sin(2 * math.pi * 1.1 * t + phase[2]))
    return out


def driving_sway(features: FrameFeatures, seed: int, n_frames: int, fps: float, h: int,
                 join_seed: int | None = None) -> np.ndarray:
    """(angle_deg, lift_px) per driving frame; a retry's own sway only inside the segment."""
    from vidpipe.render.continuity import blend_inside

    sway = _sway(features, seed, n_frames, h)
    if join_seed is not None and join_seed != seed:
        sway = blend_inside(_sway(features, join_seed, n_frames, h), sway, fps)
    return sway


def driving_clip(still: np.ndarray, features: FrameFeatures, out_mp4: Path, *, seed: int,
                 n_frames: int, fps: float, anchor: tuple[float, float],
                 join_seed: int | None = None) -> None:
    """The still, swaying about the feet with the speech: the pose source for motion models.

    Frame i samples the features at the matching time, so a half-rate clip (for
    interpolation) covers the same span. The sway is a pure function of the absolute frame
    time and the seed, so segments join without a jump. A retry with a seed of its own
    passes its neighbours' `join_seed`: its sway then starts and ends as theirs
    (`render.continuity`).
    """
    from vidpipe.media.video import ClipWriter

    h, w = still.shape[:2]
    with ClipWriter(out_mp4, (w, h), fps) as writer:
        for angle, lift in driving_sway(features, seed, n_frames, fps, h, join_seed):
            m = cv2.getRotationMatrix2D(anchor, float(angle), 1.0)
            m[1, 2] += lift
            writer.write(cv2.warpAffine(still, m, (w, h), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT))


# --- clips back to the plan ------------------------------------------------------------------

def conform_clip(src: Path, dst: Path, *, size: tuple[int, int], n_frames: int, fps: float,
                 deflicker: bool = False) -> dict:
    """Write `src` to `dst` with exactly `size`, `n_frames` and `fps`.

    Models choose their own resolution and frame count (MimicMotion pads, VHS re-times);
    frames are picked by time (nearest source frame for each output frame) and scaled.
    A clip that already fits is copied as it is.
    """
    from vidpipe.media.video import ClipWriter, iter_frames, probe_video
    from vidpipe.render.embedded.deflicker import ffmpeg_deflicker_filter

    info = probe_video(src)
    facts = {"source_frames": info.n_frames, "source_size": f"{info.width}x{info.height}",
             "source_fps": info.fps}
    fits = ((info.width, info.height) == tuple(size) and info.n_frames == n_frames
            and abs(info.fps - fps) < 1e-3 and info.video_codec == "h264"
            and info.pix_fmt.startswith("yuv420p") and info.audio_codec is None)
    if fits and not deflicker:
        shutil.copyfile(src, dst)
        facts["conformed"] = False
        return facts
    n_src = max(1, info.n_frames)
    pick = [min(n_src - 1, int((i + 0.5) * n_src / n_frames)) for i in range(n_frames)]
    vf = ffmpeg_deflicker_filter() if deflicker else None
    with ClipWriter(dst, size, fps, vf=vf) as writer:
        k = 0
        frame = None
        for j, frame in enumerate(iter_frames(src)):
            while k < n_frames and pick[k] == j:
                writer.write(np.ascontiguousarray(resize(frame, size)))
                k += 1
        while k < n_frames and frame is not None:  # the source was shorter than it said
            writer.write(np.ascontiguousarray(resize(frame, size)))
            k += 1
    facts["conformed"] = True
    return facts


def depth_meta_text(meta: dict) -> dict[str, str]:
    return {"vidpipe_depth": json.dumps(meta)}
