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
    assert "text" in kinds  # the binary TEXT frame was parsed
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
