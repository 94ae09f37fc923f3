"""The embedded backend: CPU-only previz from the models bundled in pip packages.

Each method loads its inputs, calls the stage function of its module and writes the file it
was given. Nothing here downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from vidpipe.media.features import FrameFeatures
from vidpipe.render.base import StageFacts


def _save_png(path: Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    # zlib level 1: a 512 px still saves in 0.03 s instead of 0.1 s at PIL's default 6, for
    # files 10-20 % larger; four stills are saved in a row before any segment can start.
    Image.fromarray(image).save(path, format="PNG", pnginfo=info, compress_level=1)


def _load_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def load_depth(path: Path):
    """Read back a depth PNG written by `EmbeddedBackend.depth` as a DepthEstimate."""
    import json

    from vidpipe.render.embedded.depth import DepthEstimate

    with Image.open(path) as im:
        depth = np.asarray(im).astype(np.float32) / 65535.0
        meta = json.loads(im.text["vidpipe_depth"])
    return DepthEstimate(depth=depth, horizon_row=float(meta["horizon_row"]),
                         ground_rows=tuple(meta["ground_rows"]))


class EmbeddedBackend:
    name = "embedded"

    def tryon(self, person: Path, garment: Path, out_png: Path, *, seed: int) -> StageFacts:
        from vidpipe.media.images import load_image
        from vidpipe.render.embedded.tryon import try_on

        result = try_on(load_image(person), load_image(garment), seed=seed)
        _save_png(out_png, result.image)
        h, w = result.image.shape[:2]
        return StageFacts(info={"width": w, "height": h,
                                "garment_coverage": float(result.garment_mask.mean())})

    def matte(self, image: Path, out_png: Path) -> StageFacts:
        from vidpipe.media.images import load_image
        from vidpipe.render.embedded.matte import cutout, person_matte

        rgb = load_image(image)
        alpha = person_matte(rgb)
        _save_png(out_png, cutout(rgb, alpha))
        return StageFacts(info={"person_fraction": float(alpha.mean())})

    def depth(self, scene: Path, out_png: Path) -> StageFacts:
        import json

        from vidpipe.media.images import load_image
        from vidpipe.render.embedded.depth import estimate_depth

        est = estimate_depth(load_image(scene))
        meta = {"horizon_row": float(est.horizon_row),
                "ground_rows": [float(r) for r in est.ground_rows]}
        depth16 = np.clip(est.depth * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
        _save_png(out_png, depth16, {"vidpipe_depth": json.dumps(meta)})
        return StageFacts(info=meta)

    def composite(self, cutout_png: Path, scene: Path, depth_png: Path, scene_info: dict,
                  frame_size: tuple[int, int], out_png: Path, out_layers: Path, *,
                  seed: int) -> StageFacts:
        from vidpipe.analysis.scene import SceneAnalysis
        from vidpipe.media.images import load_image
        from vidpipe.render.embedded.composite import build_composite
        from vidpipe.render.embedded.layers import compose_layers, save_layers
        from vidpipe.render.embedded.motion import layer_rig

        layers = build_composite(_load_rgba(cutout_png), load_image(scene), load_depth(depth_png),
                                 SceneAnalysis.model_validate(scene_info), frame_size, seed=seed)
        rig = layer_rig(layers)
        layers.rig = rig.to_dict() if rig is not None else None
        save_layers(out_layers, layers)
        _save_png(out_png, compose_layers(layers))
        return StageFacts(info={"anchor_x": layers.anchor[0], "anchor_y": layers.anchor[1],
                                "scale": layers.scale, "width": frame_size[0],
                                "height": frame_size[1],
                                "rig": rig.source if rig is not None else "none"})

    def motion(self, composite_png: Path, layers: Path, features: FrameFeatures, out_mp4: Path, *,
               seed: int, join_seed: int | None = None) -> StageFacts:
        from vidpipe.render.embedded.layers import load_layers
        from vidpipe.render.embedded.motion import render_motion

        render_motion(load_layers(layers), features, out_mp4, seed=seed, join_seed=join_seed)
        return StageFacts(info={"frames": features.n_frames})

    def lipsync(self, clip: Path, features: FrameFeatures, out_mp4: Path, *,
                audio: Path | None = None, seed: int | None = None) -> StageFacts:
        # The embedded mouth is driven by the features alone; audio and seed are for
        # generative lip-sync models.
        from vidpipe.render.embedded.lipsync import apply_lipsync

        result = apply_lipsync(clip, features, out_mp4)
        info = {"frames": features.n_frames}
        missed = getattr(result, "frames_without_face", None)
        if missed is not None:
            info["frames_without_face"] = int(missed)
        return StageFacts(info=info)

    def upscale(self, clip: Path, size: tuple[int, int], out_mp4: Path) -> StageFacts:
        from vidpipe.render.embedded.upscale import upscale_clip

        upscale_clip(clip, out_mp4, size)
        return StageFacts(info={"width": size[0], "height": size[1]})
