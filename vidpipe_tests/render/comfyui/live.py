"""Comparing the stand-in with a real ComfyUI server.

Used by live_server_checks.py (opt-in: set VIDPIPE_COMFY_LIVE_URL to a running server) and by hand:
`class_differences` lists where a catalogue entry of the stand-in and the real
`/object_info` entry of the same class disagree: input names and groups, each input's type
and spec form (old combo list, V3 "COMBO" with options, plain type), combo options, numeric
default/min/max/step, outputs, output names, output_node. Combos that list the server's
files (models, uploads) are compared by form only.
"""

from __future__ import annotations

from typing import Any

# Keys of an input's option dict that change what a value may be (tooltips etc. do not).
_SPEC_KEYS = ("default", "min", "max", "step", "multiselect", "image_upload", "audio_upload",
              "video_upload", "forceInput")


def input_shape(spec: Any) -> tuple[str, list | None, dict]:
    """(form, options, relevant option keys) of one input spec of /object_info."""
    if isinstance(spec, str):
        return spec, None, {}
    kind = spec[0]
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    kept = {k: extra[k] for k in _SPEC_KEYS if k in extra}
    if isinstance(kind, list):
        return "COMBO(list)", kind, kept
    if kind == "COMBO":
        kept.pop("options", None)
        return "COMBO", extra.get("options"), kept
    if kind == "COMFY_DYNAMICCOMBO_V3":
        return kind, [o.get("key") for o in extra.get("options", [])], {}
    if kind not in ("INT", "FLOAT", "STRING", "BOOLEAN"):
        kept = {k: v for k, v in kept.items() if k == "forceInput"}
    return str(kind), None, kept


def class_differences(cls: str, mine: dict, live: dict, dynamic: set[str] = frozenset()
                      ) -> list[str]:
    """Where `mine` (a stand-in /object_info entry) differs from `live` (the server's).

    `dynamic` names the inputs whose combo lists the server's own files: their options
    are not compared, only their form."""
    out: list[str] = []
    for group in ("required", "optional"):
        a = (mine.get("input") or {}).get(group) or {}
        b = (live.get("input") or {}).get(group) or {}
        for name in sorted(set(a) - set(b)):
            out.append(f"{cls}: {group} input {name!r} is not on the server")
        for name in sorted(set(b) - set(a)):
            out.append(f"{cls}: the server has {group} input {name!r} ({input_shape(b[name])[0]})")
        for name in sorted(set(a) & set(b)):
            fa, oa, ka = input_shape(a[name])
            fb, ob, kb = input_shape(b[name])
            if fa != fb:
                out.append(f"{cls}.{name}: spec form {fa}, server {fb}")
                continue
            if name not in dynamic and oa != ob and not (
                    fa == "COMBO(list)" and name == "format" and sorted(oa or []) == sorted(ob or [])):
                # (VHS lists its formats in folder order, which is not stable: compare sets)
                out.append(f"{cls}.{name}: options {oa}, server {ob}")
            if name in dynamic:
                ka = {k: v for k, v in ka.items() if k != "default"}
                kb = {k: v for k, v in kb.items() if k != "default"}
            if ka != kb:
                out.append(f"{cls}.{name}: {ka}, server {kb}")
    for key in ("output", "output_name", "output_node", "output_is_list"):
        if mine.get(key) != live.get(key):
            out.append(f"{cls}: {key} {mine.get(key)!r}, server {live.get(key)!r}")
    return out


def catalogue_differences(classes: dict[str, dict], live_info: dict[str, dict]
                          ) -> tuple[list[str], list[str]]:
    """(differences, classes the server lacks) for every stand-in class the server knows."""
    from vidpipe_tests.render.comfyui.catalogue import dynamic_inputs

    diffs: list[str] = []
    absent: list[str] = []
    for cls, mine in sorted(classes.items()):
        live = live_info.get(cls)
        if live is None:
            absent.append(cls)
            continue
        diffs += class_differences(cls, mine, live, dynamic_inputs(cls))
    return diffs, absent


def _spec(info: dict, name: str) -> tuple[str | None, Any]:
    for group in ("required", "optional"):
        spec = ((info.get("input") or {}).get(group) or {}).get(name)
        if spec is not None:
            return group, spec
    return None, None


def workflow_problems(graph: dict, live_info: dict[str, dict],
                      file_inputs: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """Every node of an API-format graph whose class the server has, checked against the
    server's own /object_info: required inputs present, no unknown input names (VHS's
    format-specific extras are checked against the chosen format's own list), link types,
    literal types, ranges and combo values. Combos listing model files or uploads
    (`file_inputs`: (class, input) pairs, plus any input flagged *_upload) are not
    value-checked; preflight does that against /models."""
    out: list[str] = []
    for node_id, node in graph.items():
        cls = node["class_type"]
        info = live_info.get(cls)
        if info is None:
            continue
        where = f"node {node_id} ({cls})"
        inputs = node.get("inputs", {})
        for name in (info.get("input") or {}).get("required") or {}:
            if name not in inputs:
                out.append(f"{where}: required input {name!r} missing")
        extras = _format_extras(info, inputs)
        for name, value in inputs.items():
            group, spec = _spec(info, name)
            if spec is None:
                if name not in extras:
                    out.append(f"{where}: input {name!r} is not an input of {cls}")
                continue
            form, options, keys = input_shape(spec)
            if isinstance(value, list):
                src = graph.get(value[0])
                src_info = live_info.get(src["class_type"]) if src else None
                if src_info is None:
                    continue
                got = src_info["output"][value[1]]
                want = spec[0] if not isinstance(spec, str) else spec
                if isinstance(want, str) and want not in ("*", got) and got not in want.split(","):
                    out.append(f"{where}: {name} takes {want}, linked to {got}")
                continue
            uploads = any(keys.get(k) for k in ("image_upload", "audio_upload", "video_upload"))
            if form in ("COMBO", "COMBO(list)"):
                if (cls, name) in file_inputs or uploads:
                    continue
                if value not in (options or []):
                    out.append(f"{where}: {name}={value!r} not in {options}")
            elif form in ("INT", "FLOAT"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                        (form == "INT" and not isinstance(value, int)):
                    out.append(f"{where}: {name}={value!r} is not {form}")
                    continue
                if "min" in keys and value < keys["min"] or "max" in keys and value > keys["max"]:
                    out.append(f"{where}: {name}={value!r} outside {keys.get('min')}..{keys.get('max')}")
            elif form == "BOOLEAN" and not isinstance(value, bool):
                out.append(f"{where}: {name}={value!r} is not BOOLEAN")
            elif form == "STRING" and not isinstance(value, str):
                out.append(f"{where}: {name}={value!r} is not STRING")
    return out


def _format_extras(info: dict, inputs: dict) -> dict[str, Any]:
    """VHS_VideoCombine-style format-specific inputs: {name: spec} for the chosen format."""
    _, spec = _spec(info, "format")
    if not spec or isinstance(spec, str) or len(spec) < 2 or not isinstance(spec[1], dict):
        return {}
    chosen = (spec[1].get("formats") or {}).get(inputs.get("format"))
    if not isinstance(chosen, list):
        return {}
    return {item[0]: item[1:] for item in chosen if isinstance(item, list) and item}


def ws_frames(url: str, graph: dict) -> list[str]:
    """Every frame one prompt sends to its client's socket, as short labels."""
    import json
    import uuid

    import requests
    import websocket

    cid, pid = str(uuid.uuid4()), str(uuid.uuid4())
    ws = websocket.create_connection(url.replace("http", "ws") + f"/ws?clientId={cid}",
                                     timeout=10)
    seen = []
    try:
        first = json.loads(ws.recv())
        assert first["type"] == "status" and first["data"]["sid"] == cid
        r = requests.post(url + "/prompt", json={"prompt": graph, "client_id": cid,
                                                 "prompt_id": pid}, timeout=10)
        assert r.status_code == 200, r.text
        while True:
            m = json.loads(ws.recv())
            t, d = m["type"], m["data"]
            if t == "progress_state":
                t += "{" + ",".join(f"{k}:{v['state']}" for k, v in d["nodes"].items()) + "}"
            elif t == "executing" or t == "executed":
                t += f":{d['node']}"
            elif t == "execution_cached":
                t += ":" + ",".join(d["nodes"])
            seen.append(t)
            if m["type"] == "executing" and d["node"] is None and d["prompt_id"] == pid:
                return seen
    finally:
        ws.close()


def refusal_cases(image: str) -> dict[str, dict]:
    """POST /prompt bodies the server refuses (or accepts with node_errors), one per
    validation path; `image` is an uploaded image both servers have."""
    def base() -> dict:
        return {
            "10": {"class_type": "LoadImage", "inputs": {"image": image}, "_meta": {"title": "In"}},
            "11": {"class_type": "ImageScale", "_meta": {"title": "Size"},
                   "inputs": {"image": ["10", 0], "upscale_method": "lanczos", "width": 20,
                              "height": 16, "crop": "disabled"}},
            "12": {"class_type": "SaveImage", "_meta": {"title": "Out"},
                   "inputs": {"images": ["11", 0], "filename_prefix": "vidpipe/live/err"}},
        }

    def mod(**changes) -> dict:
        g = base()
        for path, value in changes.items():
            nid, _, key = path.partition("__")
            if value is None:
                g[nid]["inputs"].pop(key)
            else:
                g[nid]["inputs"][key] = value
        return g

    mask = base()
    mask["20"] = {"class_type": "ImageToMask", "inputs": {"image": ["10", 0], "channel": "purple"}}
    mask["21"] = {"class_type": "MaskToImage", "inputs": {"mask": ["20", 0]}}
    mask["12"]["inputs"]["images"] = ["21", 0]
    cycle = mod(**{"11__image": ["13", 0]})
    cycle["13"] = {"class_type": "ImageScale", "inputs": {
        "image": ["11", 0], "upscale_method": "area", "width": 8, "height": 8, "crop": "disabled"}}
    partial = base()
    partial["20"] = {"class_type": "SaveImage", "inputs": {"images": ["10", 0]}}
    return {
        "no_prompt": {"client_id": "x"},
        "invalid_prompt_id": {"prompt": base(), "prompt_id": "ABC"},
        "missing_node_type": {"prompt": {**base(), "13": {"class_type": "NoSuchNode", "inputs": {},
                                                          "_meta": {"title": "My Missing"}}}},
        "no_class_type": {"prompt": {**base(), "13": {"inputs": {}, "_meta": {"title": "T"}}}},
        "no_outputs": {"prompt": {k: v for k, v in base().items() if k != "12"}},
        "required_missing": {"prompt": mod(**{"11__width": None})},
        "combo_list": {"prompt": mod(**{"11__upscale_method": "bogus"})},
        "combo_v3": {"prompt": mask},
        "not_int": {"prompt": mod(**{"11__width": "wide"})},
        "too_big": {"prompt": mod(**{"11__width": 99999})},
        "type_mismatch": {"prompt": mod(**{"12__images": ["10", 1]})},
        "bad_link": {"prompt": mod(**{"11__image": ["10", 0, 1]})},
        "link_to_missing_node": {"prompt": mod(**{"11__image": ["99", 0]})},
        "link_to_missing_output": {"prompt": mod(**{"11__image": ["10", 5]})},
        "output_link_missing": {"prompt": mod(**{"12__images": ["99", 0]})},
        "missing_file": {"prompt": mod(**{"10__image": "vidpipe/not-there.png"})},
        "empty_model_list": {"prompt": {
            "1": {"class_type": "CheckpointLoaderSimple",
                  "inputs": {"ckpt_name": "not-there.safetensors"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}},
        "cycle": {"prompt": cycle},
        "partial": {"prompt": partial},
        "unknown_key": {"prompt": mod(**{"11__bogus_key": 1})},
    }


def normalized(status: int, body: str) -> tuple[int, Any]:
    """A /prompt answer without what legitimately differs: prompt id, queue number,
    tracebacks, tooltips (the stand-in keeps none) and the order of dependent_outputs
    (the server walks its output nodes as a set)."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return status, body

    def clean(x):
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if k in ("traceback", "tooltip"):
                    continue
                if k == "dependent_outputs":
                    v = sorted(v)
                out[k] = clean(v)
            return out
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    data = clean(data)
    if isinstance(data, dict):
        data.pop("prompt_id", None)
        data.pop("number", None)
    return status, data
