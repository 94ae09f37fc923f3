"""Opt-in checks against a real ComfyUI server, run by naming this file:

    VIDPIPE_COMFY_LIVE_URL=http://127.0.0.1:8188 .venv/bin/pytest \
        vidpipe_tests/render/comfyui/live_server_checks.py

Its name does not match test_*.py, so the default suite (and CI, which has no ComfyUI)
never collects it; run by name without the variable, every check fails and says why
instead of being skipped.

They compare the stand-in with the server (node catalogue, websocket sequence, every
validation answer), check every workflow's nodes against the server's /object_info, and run
our client and `vidpipe comfy smoke` end to end. With ComfyUI-VideoHelperSuite installed and
a file models/upscale_models/RealESRGAN_x4plus.pth on the server, the upscale stage runs
end to end too.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from vidpipe.render.comfyui.client import ComfyClient
from vidpipe.render.comfyui.errors import ComfyValidationError
from vidpipe.render.comfyui.smoke import smoke
from vidpipe.render.comfyui.workflow import available_models, load_workflow
from vidpipe_tests.render.comfyui.live import (catalogue_differences, normalized, refusal_cases,
                                               workflow_problems, ws_frames)
from vidpipe_tests.render.comfyui.standin import StandIn

LIVE = os.environ.get("VIDPIPE_COMFY_LIVE_URL", "").rstrip("/")


@pytest.fixture(autouse=True)
def _needs_a_server():
    if not LIVE:
        pytest.fail("set VIDPIPE_COMFY_LIVE_URL to a ComfyUI server (e.g. http://127.0.0.1:8188)")


@pytest.fixture(scope="module")
def live_info():
    return requests.get(LIVE + "/object_info", timeout=120).json()


@pytest.fixture
def mirror(tmp_path):
    """A stand-in with the live server's model files, so model combos agree."""
    folders = requests.get(LIVE + "/models", timeout=30).json()
    models = {f: requests.get(f"{LIVE}/models/{f}", timeout=30).json() for f in folders}
    server = StandIn(tmp_path / "standin", models=models).start()
    yield server
    server.stop()


def fresh_png(tmp_path) -> "Path":  # noqa: F821
    """A new image each run, so neither server has anything cached for it."""
    arr = np.zeros((30, 40, 3), np.uint8)
    arr[:, :20] = (200, 30, 30)
    arr[:, 20:] = (30, 30, 200)
    arr[0, 0] = np.frombuffer(uuid.uuid4().bytes[:3], np.uint8)
    path = tmp_path / "fresh.png"
    Image.fromarray(arr).save(path)
    return path


def test_catalogue_matches_the_live_object_info(mirror, live_info):
    served = {c: mirror._info(c) for c in mirror.classes}
    diffs, _absent = catalogue_differences(served, live_info)
    assert diffs == []


def test_websocket_sequence_matches(mirror, tmp_path):
    png = fresh_png(tmp_path)
    names = {url: ComfyClient(url).upload(png) for url in (LIVE, mirror.url)}
    for run in ("first", "cached"):
        got = {url: ws_frames(url, {
            "10": {"class_type": "LoadImage", "inputs": {"image": names[url]}},
            "11": {"class_type": "ImageScale", "inputs": {
                "image": ["10", 0], "upscale_method": "lanczos", "width": 20, "height": 16,
                "crop": "disabled"}},
            "12": {"class_type": "SaveImage", "inputs": {
                "images": ["11", 0], "filename_prefix": f"vidpipe/live/{png.stat().st_mtime_ns}"}}})
            for url in (LIVE, mirror.url)}
        assert got[LIVE] == got[mirror.url], run


def test_validation_answers_match(mirror, tmp_path):
    png = fresh_png(tmp_path)
    name = ComfyClient(LIVE).upload(png)
    assert ComfyClient(mirror.url).upload(png) == name
    for case, body in refusal_cases(name).items():
        answers = []
        for url in (LIVE, mirror.url):
            r = requests.post(url + "/prompt", json=body, timeout=30)
            answers.append(normalized(r.status_code, r.text))
            if r.status_code == 200:
                requests.post(url + "/queue", json={"delete": [r.json()["prompt_id"]]}, timeout=10)
        assert answers[0] == answers[1], case


@pytest.mark.parametrize("stage,model", [(s, m) for s, ms in available_models().items()
                                         for m in ms])
def test_workflow_nodes_fit_the_live_server(stage, model, live_info):
    wf = load_workflow(stage, model)
    files = {(wf.class_of(wf.node_by_title(m.title)[0]), m.input)
             for m in wf.sidecar.models if m.title}
    files |= {(wf.class_of(wf.node_by_title(s.title)[0]), s.input)
              for s in wf.sidecar.inputs.values() if s.kind in ("image", "video", "audio")}
    assert workflow_problems(wf.graph, live_info, frozenset(files)) == []


def test_client_end_to_end(tmp_path):
    png = fresh_png(tmp_path)
    client = ComfyClient(LIVE)
    sent = []
    name = client.upload(png, on_send=sent.append)
    assert client.upload(png, on_send=sent.append) == name
    assert ComfyClient(LIVE).upload(png, on_send=sent.append) == name
    assert len(sent) == 1
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}, "_meta": {"title": "In"}},
             "2": {"class_type": "ImageScale", "_meta": {"title": "Size"}, "inputs": {
                 "image": ["1", 0], "upscale_method": "lanczos", "width": 20, "height": 16,
                 "crop": "disabled"}},
             "3": {"class_type": "SaveImage", "_meta": {"title": "Out"},
                   "inputs": {"images": ["2", 0], "filename_prefix": "vidpipe/live/e2e"}}}
    result = client.run(graph, workflow="live", time_limit_s=120)
    [out] = result.files_for("Out")
    assert Image.open(client.download(out.ref, tmp_path / "o.png")).size == (20, 16)
    graph["2"]["inputs"]["image"] = ["99", 0]
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="live", time_limit_s=60)
    assert info.value.problems[0].input_name is None and "not in the graph" in str(info.value)


def test_smoke_command_passes():
    result = smoke(LIVE)
    assert result.ok, result.report()


def test_upscale_stage_end_to_end(tmp_path, live_info):
    if "VHS_LoadVideo" not in live_info:
        pytest.skip("ComfyUI-VideoHelperSuite is not installed on the server")
    if "RealESRGAN_x4plus.pth" not in requests.get(LIVE + "/models/upscale_models",
                                                   timeout=30).json():
        pytest.skip("no models/upscale_models/RealESRGAN_x4plus.pth on the server")
    from vidpipe.media.video import ClipWriter, probe_video
    from vidpipe.render.comfyui.backend import ComfyBackend

    clip = tmp_path / "in.mp4"
    with ClipWriter(clip, (64, 48), 25.0) as w:
        for i in range(10):
            f = np.full((48, 64, 3), 40, np.uint8)
            f[:, i * 5:i * 5 + 6] = (250, 250, 40)
            w.write(f)
    facts = ComfyBackend([LIVE]).upscale(clip, (128, 96), tmp_path / "out.mp4")
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.n_frames) == (128, 96, 10)
    assert facts.info["workflow"] == "upscale_realesrgan"
