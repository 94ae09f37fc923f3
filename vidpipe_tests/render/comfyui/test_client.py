"""The client against the stand-in server: the protocol, its errors and its faults."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from vidpipe.render.comfyui.client import ComfyClient
from vidpipe.render.comfyui.errors import (ComfyExecutionError, ComfyTimeout, ComfyUnavailable,
                                           ComfyValidationError)
from vidpipe_tests.render.comfyui.conftest import fast_client
from vidpipe_tests.render.comfyui.live import ws_frames
from vidpipe_tests.render.comfyui.standin import free_port


def copy_graph(image: str, prefix: str = "t/copy", *, extra: dict | None = None) -> dict:
    graph = {
        "10": {"class_type": "LoadImage", "inputs": {"image": image}, "_meta": {"title": "In"}},
        "11": {"class_type": "ImageScale", "_meta": {"title": "Size"},
               "inputs": {"image": ["10", 0], "upscale_method": "area", "width": 20,
                          "height": 16, "crop": "disabled"}},
        "12": {"class_type": "SaveImage", "_meta": {"title": "Out"},
               "inputs": {"images": ["11", 0], "filename_prefix": prefix}},
    }
    graph.update(extra or {})
    return graph


def test_run_follows_the_socket_and_downloads_the_output(client, standin, small_png, tmp_path):
    name = client.upload(small_png)
    events = []
    result = client.run(copy_graph(name), workflow="copy", time_limit_s=20,
                        on_progress=events.append)
    kinds = [e.event for e in events]
    assert kinds[0] == "queued" and kinds[-1] == "done"
    assert [e.title for e in events if e.event == "executing"] == ["In", "Size", "Out"]
    assert result.watched == "websocket"
    [out] = result.files_for("Out")
    assert (out.key, out.ref.subfolder, out.ref.type) == ("images", "t", "output")
    dest = client.download(out.ref, tmp_path / "out.png")
    arr = np.asarray(Image.open(dest).convert("RGB"))
    assert arr.shape == (16, 20, 3)
    assert arr[:, :8, 0].mean() > 150 and arr[:, 12:, 2].mean() > 150  # red left, blue right


def test_identical_resubmission_comes_from_the_cache(client, small_png):
    name = client.upload(small_png)
    first = client.run(copy_graph(name), workflow="copy", time_limit_s=20)
    again = client.run(copy_graph(name), workflow="copy", time_limit_s=20)
    assert again.cached_nodes == ["10", "11", "12"]
    assert again.outputs[0].ref == first.outputs[0].ref


def test_uploads_are_content_addressed_and_never_repeated(standin, small_png, tmp_path):
    a = fast_client(standin.url)
    name = a.upload(small_png)
    assert name.startswith("vidpipe/") and name.endswith(".png")
    assert a.upload(small_png) == name
    assert standin.hits["upload"] == 1
    copy = tmp_path / "same-bytes-other-name.png"
    copy.write_bytes(small_png.read_bytes())
    b = fast_client(standin.url)  # a new process: it asks /view before sending anything
    assert b.upload(copy) == name
    assert standin.hits["upload"] == 1 and standin.hits["view_input"] >= 1
    assert (standin.dirs["input"] / name).read_bytes() == small_png.read_bytes()


def test_unknown_node_type_names_node_class_and_title(client, small_png):
    name = client.upload(small_png)
    graph = copy_graph(name, extra={"13": {"class_type": "NoSuchNode", "inputs": {},
                                           "_meta": {"title": "My Missing"}}})
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    assert (p.node_id, p.class_type, p.title, p.kind) == ("13", "NoSuchNode", "My Missing",
                                                          "missing_node_type")
    assert "node 13 'My Missing' (NoSuchNode)" in str(info.value)
    assert "vidpipe comfy check" in str(info.value)


def test_bad_input_is_named_with_its_node(client, small_png):
    name = client.upload(small_png)
    graph = copy_graph(name)
    graph["11"]["inputs"]["upscale_method"] = "bogus"
    graph["11"]["inputs"]["width"] = "wide"
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    problems = {p.input_name: p for p in info.value.problems}
    assert problems["upscale_method"].kind == "value_not_in_list"
    assert problems["width"].kind == "invalid_input_type"
    assert all(p.title == "Size" and p.class_type == "ImageScale" for p in problems.values())
    assert "input 'upscale_method'" in str(info.value)


def test_missing_upload_is_a_custom_validation_error(client):
    with pytest.raises(ComfyValidationError) as info:
        client.run(copy_graph("vidpipe/not-there.png"), workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    assert (p.title, p.input_name, p.kind) == ("In", "image", "custom_validation_failed")


def test_partial_accept_fails_when_our_output_was_dropped(client, standin, small_png):
    name = client.upload(small_png)
    graph = copy_graph(name, extra={
        "20": {"class_type": "SaveImage", "inputs": {"images": ["10", 0]},
               "_meta": {"title": "Broken Save"}}})
    result = client.run(graph, workflow="copy", time_limit_s=10, required_outputs={"12"})
    assert result.files_for("Out") and not result.files_for("Broken Save")
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10, required_outputs={"20"})
    assert info.value.problems[0].input_name == "filename_prefix"


def test_execution_error_mid_run_names_the_node(client, standin, small_png):
    standin.faults.fail_class = "ImageScale"
    name = client.upload(small_png)
    with pytest.raises(ComfyExecutionError) as info:
        client.run(copy_graph(name), workflow="copy", time_limit_s=10)
    err = info.value
    assert (err.node_id, err.class_type, err.title) == ("11", "ImageScale", "Size")
    assert err.exception_type == "RuntimeError" and "on purpose" in str(err)
    assert "upscale_method" in err.inputs


def test_websocket_drop_falls_back_to_polling_history(client, standin, small_png, tmp_path):
    standin.faults.drop_ws_class = "ImageScale"
    name = client.upload(small_png)
    events = []
    result = client.run(copy_graph(name, "t/poll"), workflow="copy", time_limit_s=20,
                        on_progress=events.append)
    assert result.watched == "polling"
    assert "polling" in [e.event for e in events]
    assert standin.hits["history_one"] >= 1
    assert client.download(result.files_for("Out")[0].ref, tmp_path / "o.png").stat().st_size


def test_hung_prompt_is_interrupted_at_the_time_limit(client, standin, small_png):
    standin.faults.hang_class = "ImageScale"
    name = client.upload(small_png)
    started = time.monotonic()
    with pytest.raises(ComfyTimeout) as info:
        client.run(copy_graph(name), workflow="copy", time_limit_s=0.6)
    assert time.monotonic() - started < 5
    assert standin.hits["interrupt"] >= 1
    assert "Size" in str(info.value)
    standin.faults.hang_class = None
    # the server is free again: the next prompt runs
    assert client.run(copy_graph(name, "t/after"), workflow="copy", time_limit_s=20).outputs
    entry = next(e for e in standin.history.values() if e["status"]["status_str"] == "error")
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


def test_view_500_is_retried(client, standin, small_png, tmp_path):
    name = client.upload(small_png)
    result = client.run(copy_graph(name), workflow="copy", time_limit_s=20)
    standin.faults.view_500 = 2
    dest = client.download(result.outputs[0].ref, tmp_path / "o.png")
    assert Image.open(dest).size == (20, 16)
    assert standin.hits["view_output"] == 3


def test_no_server_is_unavailable_quickly(tmp_path, small_png):
    client = ComfyClient(f"http://127.0.0.1:{free_port()}", retries=1, backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(ComfyUnavailable) as info:
        client.upload(small_png)
    assert time.monotonic() - started < 5
    assert "not answering" in str(info.value)


def test_unknown_history_and_stand_in_wire_details(client, standin):
    import requests

    assert client.history("6f1c2a8e-0000-4000-8000-000000000000") is None
    r = requests.post(standin.url + "/prompt", data="{not json", timeout=5)
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/plain")
    r = requests.post(standin.url + "/api/prompt", json={"prompt": {}, "prompt_id": "ABC"},
                      timeout=5)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_prompt_id"
    r = requests.get(standin.url + "/view", params={"filename": "nope.png"}, timeout=5)
    assert r.status_code == 404 and r.content == b""
    r = requests.get(standin.url + "/view", params={"filename": "../x.png"}, timeout=5)
    assert r.status_code == 400 and r.content == b""
    assert requests.get(standin.url + "/object_info/Nope", timeout=5).json() == {}
    assert requests.get(standin.url + "/models/nope", timeout=5).status_code == 404
    assert client.system_stats()["system"]["comfyui_version"] == "0.33.0"


def test_link_of_the_wrong_type_is_named(client, small_png):
    name = client.upload(small_png)
    graph = copy_graph(name)
    graph["12"]["inputs"]["images"] = ["10", 1]  # LoadImage's MASK into SaveImage's IMAGE
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    assert (p.node_id, p.title, p.input_name, p.kind) == ("12", "Out", "images",
                                                          "return_type_mismatch")
    assert "received_type(MASK)" in str(info.value)


# The websocket frames of LoadImage -> ImageScale -> SaveImage as a real ComfyUI v0.33.0
# sent them (live, --cpu, 2026-11-26), first run and identical resubmission:
# progress_state is a snapshot of every node that is not pending, sent before and after
# each node; cached output nodes are re-sent as executed, then marked finished.
LIVE_FIRST_RUN = [
    "status", "status", "execution_start", "execution_cached:",
    "progress_state{10:running}", "executing:10", "progress_state{10:finished}",
    "progress_state{10:finished,11:running}", "executing:11",
    "progress_state{10:finished,11:finished}",
    "progress_state{10:finished,11:finished,12:running}", "executing:12", "executed:12",
    "progress_state{10:finished,11:finished,12:finished}", "execution_success", "status",
    "executing:None"]
LIVE_CACHED_RUN = ["status", "status", "execution_start", "execution_cached:10,11,12",
                   "executed:12", "progress_state{12:finished}", "execution_success", "status",
                   "executing:None"]
# Only filename_prefix changed: the server reuses 10 and 11 from its per-node cache
# without visiting them, and runs 12 alone.
LIVE_NEW_PREFIX_RUN = ["status", "status", "execution_start", "execution_cached:10,11",
                       "progress_state{12:running}", "executing:12", "executed:12",
                       "progress_state{12:finished}", "execution_success", "status",
                       "executing:None"]


def test_stand_in_sends_the_live_websocket_sequence(standin, small_png):
    name = fast_client(standin.url).upload(small_png)
    graph = copy_graph(name, "t/seq")
    assert ws_frames(standin.url, graph) == LIVE_FIRST_RUN
    assert ws_frames(standin.url, graph) == LIVE_CACHED_RUN
    assert ws_frames(standin.url, copy_graph(name, "t/seq2")) == LIVE_NEW_PREFIX_RUN


def test_binary_text_frame_from_get_image_size(client, small_png):
    name = client.upload(small_png)
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
             "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
             "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]},
                   "_meta": {"title": "Width"}}}
    events = []
    result = client.run(graph, workflow="size", time_limit_s=20, on_progress=events.append)
    [text] = [e for e in events if e.event == "text"]
    # what GetImageSize sent live for a 40x30 image
    assert (text.node_id, text.class_type, text.text) == ("2", "GetImageSize",
                                                          "width: 40, height: 30\n batch size: 1")
    assert result.outputs == []  # PreviewAny's {"text": ["40"]} is not a file
    assert client.history(result.prompt_id).outputs == {"3": {"text": ["40"]}}


def test_audio_and_video_outputs_download(client, standin, small_png, tmp_path):
    import wave

    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(8000) / 5) * 9000).astype("<i2").tobytes())
    audio = client.upload(wav)
    graph = {"1": {"class_type": "LoadAudio", "inputs": {"audio": audio}},
             "2": {"class_type": "SaveAudio", "_meta": {"title": "Audio Out"},
                   "inputs": {"audio": ["1", 0], "filename_prefix": "t/aud"}}}
    [out] = client.run(graph, workflow="audio", time_limit_s=30).outputs
    # live v0.33.0: {"audio": [{"filename": "aud_00001.flac", ...}]}, no trailing "_"
    assert (out.key, out.ref.filename, out.animated) == ("audio", "aud_00001.flac", False)
    assert client.download(out.ref, tmp_path / "a.flac").read_bytes()[:4] == b"fLaC"

    name = client.upload(small_png)
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
             "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8.0}},
             "3": {"class_type": "SaveVideo", "_meta": {"title": "Video Out"},
                   "inputs": {"video": ["2", 0], "filename_prefix": "t/vid", "format": "mp4"}}}
    [out] = client.run(graph, workflow="video", time_limit_s=30).outputs
    # live: videos come under "images" with "animated": [true]
    assert (out.key, out.ref.filename, out.animated) == ("images", "vid_00001_.mp4", True)
    from vidpipe.media.video import probe_video

    info = probe_video(client.download(out.ref, tmp_path / "v.mp4"))
    assert (info.width, info.height, info.n_frames) == (40, 30, 1)


def test_vhs_combine_without_save_output_lands_in_temp(client, standin, tmp_path):
    from vidpipe.media.video import ClipWriter

    clip = tmp_path / "c.mp4"
    with ClipWriter(clip, (32, 24), 8.0) as w:
        for i in range(4):
            w.write(np.full((24, 32, 3), 60 * i, np.uint8))
    video = client.upload(clip)
    graph = {"1": {"class_type": "VHS_LoadVideo", "inputs": {
                 "video": video, "force_rate": 0, "custom_width": 0, "custom_height": 0,
                 "frame_load_cap": 0, "skip_first_frames": 0, "select_every_nth": 1}},
             "2": {"class_type": "VHS_VideoCombine", "inputs": {
                 "images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "t/c",
                 "format": "video/h264-mp4", "pingpong": False, "save_output": False}}}
    [out] = client.run(graph, workflow="vhs", time_limit_s=30).outputs
    assert (out.key, out.ref.type, out.ref.format, out.animated) == (
        "gifs", "temp", "video/h264-mp4", True)
    assert client.download(out.ref, tmp_path / "o.mp4").stat().st_size > 0


def test_a_second_socket_with_our_client_id_silences_ours(standin, small_png):
    """Live v0.33.0: a socket that reuses a clientId takes over, and the older one stays
    open but hears nothing more; the client finds the end through /history."""
    import websocket

    client = fast_client(standin.url)
    name = client.upload(small_png)
    opened = client._open_ws
    thief = []

    def open_then_steal(client_id):
        ws = opened(client_id)
        thief.append(websocket.create_connection(
            standin.url.replace("http", "ws") + f"/ws?clientId={client_id}", timeout=5))
        return ws

    client._open_ws = open_then_steal
    events = []
    try:
        result = client.run(copy_graph(name, "t/steal"), workflow="copy", time_limit_s=20,
                            on_progress=events.append)
    finally:
        for ws in thief:
            ws.close()
    assert result.watched == "polling" and result.files_for("Out")
    assert any(e.event == "polling" and "quiet" in e.text for e in events)
    assert not [e for e in events if e.event == "executing"]  # our socket heard nothing


def test_cycle_and_broken_links_are_named(client, small_png):
    name = client.upload(small_png)
    graph = copy_graph(name)
    graph["11"]["inputs"]["image"] = ["11", 0]
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    assert (p.node_id, p.kind) == ("11", "dependency_cycle")
    assert "11 (ImageScale) -> 11 (ImageScale)" in str(info.value)

    graph = copy_graph(name)
    graph["11"]["inputs"]["image"] = ["99", 0]
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    # the server files it under node 11 with SaveImage's input name "images"; we drop that
    assert (p.node_id, p.title, p.input_name, p.kind) == (
        "11", "Size", None, "exception_during_inner_validation")
    assert "KeyError: '99'" in str(info.value) and "not in the graph" in str(info.value)

    graph = copy_graph(name)
    graph["12"]["inputs"]["images"] = ["11", 3]
    with pytest.raises(ComfyValidationError) as info:
        client.run(graph, workflow="copy", time_limit_s=10)
    [p] = info.value.problems
    assert (p.node_id, p.kind) == ("12", "exception_during_validation")
    assert "output index" in str(info.value)


def test_stand_in_validation_matches_live_bodies(standin, small_png):
    """Bodies captured from a live v0.33.0 (tooltips and tracebacks left out)."""
    import requests

    name = fast_client(standin.url).upload(small_png)
    mask = copy_graph(name)
    mask["20"] = {"class_type": "ImageToMask", "inputs": {"image": ["10", 0], "channel": "purple"}}
    mask["21"] = {"class_type": "MaskToImage", "inputs": {"mask": ["20", 0]}}
    mask["12"]["inputs"]["images"] = ["21", 0]
    body = requests.post(standin.url + "/prompt", json={"prompt": mask}, timeout=10).json()
    assert body["node_errors"]["20"]["errors"][0] == {
        "type": "value_not_in_list", "message": "Value not in list",
        "details": "channel: 'purple' not in ['red', 'green', 'blue', 'alpha']",
        "extra_info": {"input_name": "channel", "received_value": "purple", "input_config": [
            "COMBO", {"multiselect": False, "options": ["red", "green", "blue", "alpha"]}]}}
    untitled = copy_graph(name, extra={"13": {"inputs": {}, "_meta": {"title": "T"}}})
    body = requests.post(standin.url + "/prompt", json={"prompt": untitled}, timeout=10).json()
    assert body["error"]["message"] == ("Node 'T' has no class_type. The workflow may be "
                                        "corrupted or a custom node is missing.")
    assert body["error"]["extra_info"]["node_title"] == "T"
    body = requests.post(standin.url + "/prompt", json={"client_id": "x"}, timeout=10).json()
    assert body["error"]["details"] == "No prompt provided"
    # a failing upstream node is listed under every failed output validated after it
    two = {"1": {"class_type": "LoadAudio", "inputs": {"audio": "vidpipe/nope.wav"}},
           "2": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0], "filename_prefix": "x"}},
           "3": {"class_type": "LoadVideo", "inputs": {"file": "vidpipe/nope.mp4"}},
           "4": {"class_type": "SaveVideo", "inputs": {"video": ["3", 0], "filename_prefix": "x",
                                                       "format": "mp4"}}}
    errs = requests.post(standin.url + "/prompt", json={"prompt": two}, timeout=10).json()
    assert errs["node_errors"]["3"]["errors"][0]["details"] == \
        "file - Invalid video file: vidpipe/nope.mp4"
    assert errs["node_errors"]["1"]["dependent_outputs"] == ["2", "4"]
