"""The ComfyUI render backend: every stage as a workflow on one of several servers.

Each method prepares what its workflow takes (prepare.py), runs it through the server pool
(upload by content hash, fill by title, queue, follow, download) and brings the result to
the stage's file contract: the exact path it was given, the size / frame count / rate the
plan expects. Continuity: every generation is anchored on the original try-on and the
original scene (IP-Adapter / Redux / reference inputs, see each sidecar's `references`),
never on a previous segment's frames; seeds come in from the caller.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from vidpipe.errors import StageError
from vidpipe.media.features import FrameFeatures
from vidpipe.render.base import StageFacts
from vidpipe.render.comfyui import prepare
from vidpipe.render.comfyui.client import ComfyClient, ComfyProgress, OutputFile, ProgressCallback, \
    PromptResult
from vidpipe.render.comfyui.errors import ComfyError
from vidpipe.render.comfyui.pool import ServerPool
from vidpipe.render.comfyui.workflow import WORKFLOW_DIR, StageChoices, Workflow, load_workflow
from vidpipe.seeds import derive_seed
from vidpipe.storage import file_sha256, stable_hash

# Seconds a stage may run on the server before it is interrupted.
DEFAULT_TIMEOUTS_S: dict[str, float] = {
    "tryon": 900, "matte": 300, "depth": 300, "composite": 900, "motion": 3600,
    "interpolate": 900, "lipsync": 1800, "upscale": 1800,
}
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".gif", ".webp")


def segment_audio_for(clip: Path) -> Path:
    """The segment's speech for a clip under the project layout:
    renders/<asset>/<segment>.mp4 -> renders/audio_analysis/segments/<segment>.wav."""
    clip = Path(clip)
    return clip.parent.parent / "audio_analysis" / "segments" / f"{clip.stem}.wav"


class ComfyBackend:
    """RenderBackend over ComfyUI servers (see vidpipe.render.base.RenderBackend)."""

    name = "comfyui"

    def __init__(self, urls: list[str], *, choices: StageChoices | dict | None = None,
                 timeouts_s: dict[str, float] | None = None,
                 workflow_dir: Path | str = WORKFLOW_DIR,
                 on_progress: ProgressCallback | None = None, pool: ServerPool | None = None,
                 deflicker: bool = True):
        self.choices = (choices if isinstance(choices, StageChoices)
                        else StageChoices.model_validate(choices or {}))
        self.workflow_dir = Path(workflow_dir)
        # Loaded now, so a broken or missing workflow fails before anything is queued.
        self.workflows: dict[str, Workflow] = {
            stage: load_workflow(stage, model, self.workflow_dir)
            for stage, model in self.choices.chosen().items()}
        self.timeouts_s = {**DEFAULT_TIMEOUTS_S, **(timeouts_s or {})}
        self.urls = list(urls)
        self.pool = pool or ServerPool.shared(self.urls)
        self.on_progress = on_progress
        self.deflicker = deflicker

    def preflight(self):
        """Nodes, model files and combo values of the chosen workflows on every server."""
        from vidpipe.render.comfyui.preflight import preflight

        return preflight(self.pool.urls, self.choices, workflow_dir=self.workflow_dir,
                         clients=self.pool.clients)

    # --- the one way a stage talks to ComfyUI -----------------------------------------

    def _run(self, stage: str, scratch: Path, values: dict[str, Any],
             files: dict[str, Path]) -> tuple[PromptResult, dict[str, Path]]:
        wf = self.workflows[stage]
        declared = wf.sidecar.inputs
        required = {wf.node_by_title(s.title)[0] for s in wf.sidecar.outputs.values()}

        def job(client: ComfyClient) -> tuple[PromptResult, dict[str, Path]]:
            names = {k: client.upload(p) for k, p in files.items() if k in declared}
            filled = {**values, **names}
            prefix = f"vidpipe/{stage}/{stable_hash(wf.name, filled)[:16]}"
            graph = wf.fill(filled, output_prefix=prefix)
            result = client.run(graph, workflow=wf.name, time_limit_s=self.timeouts_s[stage],
                                on_progress=self.on_progress, required_outputs=required)
            got = {}
            for name, slot in wf.sidecar.outputs.items():
                item = _pick(result.files_for(slot.title), slot.kind, wf, slot.title)
                dest = scratch / f"{stage}-{name}{Path(item.ref.filename).suffix.lower()}"
                client.download(item.ref, dest)
                got[name] = dest
            return result, got

        return self.pool.run(job)

    def _facts(self, stage: str, result: PromptResult, **info) -> dict:
        return {"workflow": self.workflows[stage].name, "server": result.server,
                "prompt_id": result.prompt_id, "comfy_seconds": round(result.seconds, 3),
                "watched": result.watched, **info}

    # --- stages -------------------------------------------------------------------------

    def tryon(self, person: Path, garment: Path, out_png: Path, *, seed: int) -> StageFacts:
        rgb = prepare.read_rgb(person)
        h, w = rgb.shape[:2]
        fell_back = None
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            scratch = Path(tmp)
            files = {"person": Path(person), "garment": Path(garment)}
            mask_from = None
            if "garment_mask" in self.workflows["tryon"].sidecar.inputs:
                mask, mask_from = prepare.torso_mask(rgb)
                prepare.save_png(scratch / "garment_mask.png", mask)
                files["garment_mask"] = scratch / "garment_mask.png"
                if mask_from != "pose":
                    fell_back = ("garment mask from the middle band of the photo: no pose "
                                 "was found on the person")
            result, got = self._run("tryon", scratch, {"seed": seed, "width": w, "height": h},
                                    files)
            image = prepare.resize(prepare.read_rgb(got["image"]), (w, h))
        prepare.save_png(out_png, image)
        info = self._facts("tryon", result, width=w, height=h)
        if mask_from:
            info["garment_mask_from"] = mask_from
        return StageFacts(info=info, fell_back=fell_back)

    def matte(self, image: Path, out_png: Path) -> StageFacts:
        from vidpipe.render.embedded.matte import cutout

        rgb = prepare.read_rgb(image)
        h, w = rgb.shape[:2]
        points = json.dumps([{"x": round(w * 0.5), "y": round(h * 0.42)},
                             {"x": round(w * 0.5), "y": round(h * 0.68)}])
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            result, got = self._run("matte", Path(tmp), {"points": points},
                                    {"image": Path(image)})
            alpha = prepare.resize(prepare.read_grey(got["mask"]), (w, h))
        prepare.save_png(out_png, cutout(rgb, alpha))
        return StageFacts(info=self._facts("matte", result,
                                           person_fraction=float((alpha > 0.5).mean())))

    def depth(self, scene: Path, out_png: Path) -> StageFacts:
        scene_rgb = prepare.read_rgb(scene)
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            result, got = self._run("depth", Path(tmp), {}, {"scene": Path(scene)})
            depth16, meta = prepare.depth_png16(prepare.read_grey(got["depth"]), scene_rgb)
        prepare.save_png(out_png, depth16, prepare.depth_meta_text(meta))
        return StageFacts(info=self._facts("depth", result, **meta) | {
            "ground_rows": json.dumps(meta["ground_rows"])})

    def composite(self, cutout_png: Path, scene: Path, depth_png: Path, scene_info: dict,
                  frame_size: tuple[int, int], out_png: Path, out_layers: Path, *,
                  seed: int) -> StageFacts:
        lay = prepare.layout(prepare.read_rgba(cutout_png), prepare.read_rgb(scene),
                             prepare.read_grey(depth_png), frame_size)
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            scratch = Path(tmp)
            for name, arr in (("layout", lay.image), ("mask", lay.mask), ("depth", lay.depth)):
                prepare.save_png(scratch / f"{name}.png", arr)
            files = {"layout": scratch / "layout.png", "mask": scratch / "mask.png",
                     "depth": scratch / "depth.png", "reference_person": Path(cutout_png),
                     "reference_scene": Path(scene)}
            result, got = self._run("composite", scratch,
                                    {"seed": seed, "prompt": scene_prompt(scene_info)}, files)
            still = prepare.resize(prepare.read_rgb(got["image"]), frame_size)
        prepare.save_png(out_png, still)
        prepare.write_layers(out_layers, still, lay.anchor, lay.scale,
                             {"person": Path(cutout_png), "scene": Path(scene)})
        return StageFacts(info=self._facts(
            "composite", result, anchor_x=lay.anchor[0], anchor_y=lay.anchor[1],
            scale=lay.scale, width=frame_size[0], height=frame_size[1]))

    def motion(self, composite_png: Path, layers: Path, features: FrameFeatures, out_mp4: Path,
               *, seed: int, join_seed: int | None = None) -> StageFacts:
        # join_seed keeps the driving pose continuous at a retried segment's joins; the
        # model's own sampling still follows `seed`, so its edges match only as closely as
        # the shared anchors (still, references) make them.
        still = prepare.read_rgb(composite_png)
        h, w = still.shape[:2]
        n, fps = features.n_frames, features.fps
        interpolate = "interpolate" in self.workflows
        n_drive = math.ceil(n / 2) if interpolate else n
        drive_fps = fps / 2 if interpolate else fps
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            scratch = Path(tmp)
            refs = prepare.read_references(layers, scratch)
            drive = scratch / "driving.mp4"
            prepare.driving_clip(still, features, drive, seed=seed, n_frames=n_drive,
                                 fps=drive_fps, anchor=prepare.read_anchor(layers),
                                 join_seed=join_seed)
            files = {"still": Path(composite_png), "driving_video": drive}
            files.update({f"reference_{k}": p for k, p in refs.items()})
            missing = [r for r in self.workflows["motion"].sidecar.references
                       if r not in files]
            if missing:
                raise StageError(f"motion: {layers} carries no {', '.join(missing)}; "
                                 f"re-run the composite stage with the comfyui backend")
            result, got = self._run("motion", scratch, {"seed": seed, "fps": drive_fps}, files)
            clip = got["clip"]
            info = {}
            if interpolate:
                result2, got2 = self._run("interpolate", scratch,
                                          {"multiplier": 2, "fps": float(fps)},
                                          {"video": clip})
                clip = got2["clip"]
                info["interpolated_by"] = self.workflows["interpolate"].name
            info.update(prepare.conform_clip(clip, out_mp4, size=(w, h), n_frames=n, fps=fps))
        return StageFacts(info=self._facts("motion", result, frames=n, **info))

    def lipsync(self, clip: Path, features: FrameFeatures, out_mp4: Path, *,
                audio: Path | None = None, seed: int | None = None) -> StageFacts:
        """`audio` is the segment's speech; without it the project layout gives it
        (`segment_audio_for`). `seed` defaults to one derived from the clip's content."""
        from vidpipe.media.video import probe_video

        audio = Path(audio) if audio is not None else segment_audio_for(clip)
        if not audio.is_file():
            raise StageError(f"lipsync: no speech for {clip} (looked for {audio}); run "
                             f"audio_analysis first")
        if seed is None:
            seed = derive_seed(0, file_sha256(Path(clip))[:16], "lipsync")
        info_in = probe_video(clip)
        fps = features.fps
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            result, got = self._run("lipsync", Path(tmp),
                                    {"fps": float(fps), "length_fps": float(fps), "seed": seed},
                                    {"video": Path(clip), "audio": audio})
            info = prepare.conform_clip(got["clip"], out_mp4,
                                        size=(info_in.width, info_in.height),
                                        n_frames=features.n_frames, fps=fps)
        return StageFacts(info=self._facts("lipsync", result, frames=features.n_frames, **info))

    def upscale(self, clip: Path, size: tuple[int, int], out_mp4: Path) -> StageFacts:
        from vidpipe.media.video import probe_video

        info_in = probe_video(clip)
        fps = round(info_in.fps, 3)
        with tempfile.TemporaryDirectory(prefix="vidpipe-comfy-") as tmp:
            result, got = self._run("upscale", Path(tmp),
                                    {"width": size[0], "height": size[1], "fps": float(fps)},
                                    {"video": Path(clip)})
            info = prepare.conform_clip(got["clip"], out_mp4, size=size,
                                        n_frames=info_in.n_frames, fps=fps,
                                        deflicker=self.deflicker)
        return StageFacts(info=self._facts("upscale", result, width=size[0], height=size[1],
                                           deflickered=self.deflicker, **info))


def scene_prompt(scene_info: dict) -> str:
    """A plain prompt from the scene analysis (the brain may replace it later)."""
    light = (scene_info or {}).get("light") or {}
    framing = (scene_info or {}).get("framing") or {}
    parts = ["a person standing in the scene, photorealistic, consistent lighting"]
    if light.get("label"):
        parts.append(f"light from the {light['label']}" if light["label"] != "front"
                     else "frontal light")
    if framing.get("shot"):
        parts.append(f"{framing['shot']} shot")
    if scene_info and scene_info.get("mood"):
        parts.append(str(scene_info["mood"]))
    return ", ".join(parts)


def _pick(files: list[OutputFile], kind: str, wf: Workflow, title: str) -> OutputFile:
    if kind == "video":
        files = [f for f in files
                 if (f.ref.format or "").startswith("video/")
                 or Path(f.ref.filename).suffix.lower() in _VIDEO_SUFFIXES]
    elif kind == "image":
        files = [f for f in files if Path(f.ref.filename).suffix.lower() in
                 (".png", ".jpg", ".jpeg", ".webp")]
    if not files:
        raise ComfyError(f"{wf.name}: output node {title!r} produced no {kind} file")
    # VHS lists the muxed '-audio' file when there is audio; it is the one to take.
    return files[-1] if kind == "video" else files[0]


def progress_logger(logger, *, every: float = 0.1) -> ProgressCallback:
    """A progress callback that logs one line per node and about every 10 % of a sampler."""
    last: dict[tuple[str, str | None], float] = {}

    def callback(p: ComfyProgress) -> None:
        if p.event == "progress" and p.max:
            key = (p.prompt_id, p.node_id)
            frac = (p.value or 0) / p.max
            if frac < 1.0 and frac - last.get(key, -1.0) < every:
                return
            last[key] = frac
        logger.info(p.line())

    return callback
