"""The stages of one segment rendered end to end through ComfyBackend on the stand-in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import iter_frames, probe_video
from vidpipe.render.comfyui.backend import ComfyBackend, progress_logger, segment_audio_for
from vidpipe.render.comfyui.pool import ServerPool
from vidpipe.render.comfyui.resource import ComfyUIResource
from vidpipe.render.embedded.layers import load_layers
from vidpipe.seeds import derive_seed
from vidpipe_tests.render.comfyui.conftest import fast_client

FPS = 10
N = 12
FRAME = (96, 54)
OUT = (192, 108)


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    yy, xx = np.mgrid[0:128, 0:96]
    person = np.full((128, 96, 3), 235, np.uint8)
    body = ((xx - 48) / 26.0) ** 2 + ((yy - 80) / 44.0) ** 2 < 1
    head = ((xx - 48) / 12.0) ** 2 + ((yy - 28) / 14.0) ** 2 < 1
    person[body] = (60, 90, 160)
    person[head] = (210, 160, 130)
    garment = np.full((64, 64, 3), 245, np.uint8)
    garment[12:56, 10:54] = (200, 40, 60)
    scene = np.zeros((90, 160, 3), np.uint8)
    scene[..., 0] = np.linspace(60, 200, 160, dtype=np.uint8)[None, :]
    scene[..., 1] = np.linspace(200, 80, 90, dtype=np.uint8)[:, None]
    scene[..., 2] = 90
    paths = {}
    for name, arr in (("person", person), ("garment", garment), ("scene", scene)):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(arr).save(paths[name])
    t = np.arange(int(16000 * N / FPS)) / 16000
    paths["audio"] = folder / "speech.wav"
    sf.write(paths["audio"], (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return paths


def features() -> FrameFeatures:
    ramp = np.linspace(0, 1, N, dtype=np.float32)
    return FrameFeatures(fps=FPS, first_frame=30, energy=ramp, voiced=np.ones(N, np.float32),
                         mouth_open=ramp[::-1].copy(), emphasis=np.abs(np.sin(ramp * 6)))


def render_segment(backend: ComfyBackend, inputs: dict, out) -> dict:
    """Every stage in the order the assets run them; returns each stage's facts."""
    out.mkdir(exist_ok=True)
    facts = {}
    seed = 1234
    facts["tryon"] = backend.tryon(inputs["person"], inputs["garment"], out / "tryon.png",
                                   seed=derive_seed(seed, "tryon_image"))
    facts["matte"] = backend.matte(out / "tryon.png", out / "matte.png")
    facts["depth"] = backend.depth(inputs["scene"], out / "depth.png")
    facts["composite"] = backend.composite(
        out / "matte.png", inputs["scene"], out / "depth.png",
        {"light": {"label": "left"}, "framing": {"shot": "medium"}}, FRAME,
        out / "composite.png", out / "composite.npz", seed=derive_seed(seed, "composite"))
    facts["motion"] = backend.motion(out / "composite.png", out / "composite.npz", features(),
                                     out / "motion.mp4", seed=derive_seed(seed, "s0001", "motion"))
    facts["lipsync"] = backend.lipsync(out / "motion.mp4", features(), out / "lipsync.mp4",
                                       audio=inputs["audio"])
    facts["upscale"] = backend.upscale(out / "lipsync.mp4", OUT, out / "upscaled.mp4")
    return facts


def check_outputs(out, inputs) -> None:
    tryon = Image.open(out / "tryon.png")
    assert tryon.size == Image.open(inputs["person"]).size and tryon.mode == "RGB"
    matte = np.asarray(Image.open(out / "matte.png"))
    assert matte.shape[2] == 4 and 0.05 < (matte[..., 3] > 127).mean() < 0.9
    depth = Image.open(out / "depth.png")
    assert depth.mode.startswith("I;16") and depth.size == (160, 90)
    assert set(json.loads(depth.text["vidpipe_depth"])) == {"horizon_row", "ground_rows"}
    still = np.asarray(Image.open(out / "composite.png").convert("RGB"))
    assert still.shape == (FRAME[1], FRAME[0], 3)
    layers = load_layers(out / "composite.npz")
    assert np.array_equal(layers.background, still)
    assert layers.person.shape == (FRAME[1], FRAME[0], 4) and layers.person[..., 3].max() == 0
    assert layers.shadow.max() == 0 and layers.size == FRAME
    for name, size in (("motion", FRAME), ("lipsync", FRAME), ("upscaled", OUT)):
        info = probe_video(out / f"{name}.mp4")
        assert (info.width, info.height, info.n_frames, info.fps) == (*size, N, FPS), name
    first = next(iter_frames(out / "motion.mp4")).astype(np.float32)
    # the clip is the still animated: its first frame looks like the still
    assert np.abs(first - still).mean() < 12


def test_one_segment_end_to_end(standin, inputs, tmp_path):
    events = []
    backend = ComfyBackend([standin.url], pool=ServerPool([standin.url], client_factory=fast_client),
                           on_progress=events.append)
    facts = render_segment(backend, inputs, tmp_path / "out")
    check_outputs(tmp_path / "out", inputs)
    assert facts["tryon"].info["workflow"] == "tryon_idm_vton"
    assert facts["tryon"].fell_back  # no pose in a drawn figure: the mask came from the band
    assert facts["motion"].info["conformed"] is True  # MimicMotion gave back one extra frame
    assert facts["motion"].info["source_frames"] == N + 1
    assert facts["upscale"].info["deflickered"] is True
    assert {f.info["server"] for f in facts.values()} == {standin.url}
    assert {e.workflow for e in events} >= {"tryon_idm_vton", "upscale_realesrgan"}
    # the composite's graph was given the original try-on cutout and the original scene
    comp = next(e for e in standin.history.values()
                if "Reference Scene" in json.dumps(e["prompt"][2]))
    graph = comp["prompt"][2]
    ref = next(n for n in graph.values() if n["_meta"]["title"] == "Reference Scene")
    uploaded = standin.dirs["input"] / ref["inputs"]["image"]
    assert uploaded.read_bytes() == inputs["scene"].read_bytes()
    # a re-run uploads nothing new and is served from the server's cache
    uploads = standin.hits["upload_written"]
    render_segment(backend, inputs, tmp_path / "again")
    assert standin.hits["upload_written"] == uploads


def test_other_models_and_a_server_lost_mid_project(standin, second_standin, inputs, tmp_path):
    urls = [standin.url, second_standin.url]
    choices = {"tryon": "catvton", "composite": "flux_fill", "motion": "animatediff",
               "interpolate": "rife", "lipsync": "wav2lip"}
    backend = ComfyBackend(urls, choices=choices, deflicker=False,
                           pool=ServerPool(urls, client_factory=fast_client))
    standin.faults.die_class = "VHS_LoadVideo"  # the first server dies inside the motion stage
    facts = render_segment(backend, inputs, tmp_path / "out")
    check_outputs(tmp_path / "out", inputs)
    assert facts["composite"].info["workflow"] == "composite_flux_fill"
    assert facts["tryon"].info["server"] == standin.url
    assert facts["motion"].info["server"] == second_standin.url
    assert facts["motion"].info["interpolated_by"] == "interpolate_rife"
    assert facts["upscale"].info["server"] == second_standin.url
    assert backend.pool.is_down(standin.url) and not backend.pool.is_down(second_standin.url)
    # AnimateDiff on the second server got the original anchors carried in the layers file
    drive = next(e["prompt"][2] for e in second_standin.history.values()
                 if "Reference Person" in json.dumps(e["prompt"][2]))
    ref = next(n for n in drive.values() if n["_meta"]["title"] == "Reference Person")
    assert (second_standin.dirs["input"] / ref["inputs"]["image"]).read_bytes() == \
        (tmp_path / "out" / "matte.png").read_bytes()


def test_ootdiffusion_try_on_and_the_resource(standin, inputs, tmp_path):
    res = ComfyUIResource(urls=[standin.url], choices={"tryon": "ootdiffusion"},
                          timeouts_s={"tryon": 30})
    backend = res.backend()
    assert backend.workflows["tryon"].name == "tryon_ootdiffusion"
    assert backend.timeouts_s["tryon"] == 30 and backend.timeouts_s["motion"] == 3600
    facts = backend.tryon(inputs["person"], inputs["garment"], tmp_path / "t.png", seed=5)
    assert facts.fell_back is None and "garment_mask_from" not in facts.info
    assert Image.open(tmp_path / "t.png").size == (96, 128)
    assert res.preflight().ok


def test_lipsync_finds_the_segment_speech_by_the_project_layout(standin, inputs, tmp_path):
    clip = tmp_path / "renders" / "motion_clip" / "s0003.mp4"
    clip.parent.mkdir(parents=True)
    from vidpipe.media.video import ClipWriter

    with ClipWriter(clip, FRAME, FPS) as w:
        for i in range(N):
            w.write(np.full((FRAME[1], FRAME[0], 3), 10 * i, np.uint8))
    backend = ComfyBackend([standin.url], pool=ServerPool([standin.url], client_factory=fast_client))
    from vidpipe.errors import StageError

    with pytest.raises(StageError, match="audio_analysis"):
        backend.lipsync(clip, features(), tmp_path / "l.mp4")
    wav = segment_audio_for(clip)
    assert wav == tmp_path / "renders" / "audio_analysis" / "segments" / "s0003.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(inputs["audio"].read_bytes())
    facts = backend.lipsync(clip, features(), tmp_path / "l.mp4")
    assert facts.info["workflow"] == "lipsync_latentsync"
    assert probe_video(tmp_path / "l.mp4").n_frames == N


def test_progress_logger_throttles_sampler_steps():
    from vidpipe.render.comfyui.client import ComfyProgress

    lines = []

    class Log:
        def info(self, msg):
            lines.append(msg)

    cb = progress_logger(Log(), every=0.5)
    for v in range(11):
        cb(ComfyProgress("u", "wf", "p", "progress", "3", "Sampler", "KSampler", v, 10))
    cb(ComfyProgress("u", "wf", "p", "done"))
    assert lines[0] == "wf: progress Sampler 0/10" and lines[-1] == "wf: done"
    assert len(lines) == 4  # 0, 5 (half-way), 10 (finished), done
