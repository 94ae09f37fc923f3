"""A stand-in ComfyUI server for tests: real HTTP and websocket on one 127.0.0.1 port.

It follows shared/reference/comfyui.md (ComfyUI v0.33.0): the routes (also under /api), the
JSON shapes, the validation errors of POST /prompt, the websocket sequence (status,
execution_start, execution_cached, progress_state / executing / progress / executed per
node, execution_success | execution_error | execution_interrupted, status, executing
{node: null}), history written before the final executing, empty-body 4xx on /view and the
uploads, 500 text/plain for bodies that are not JSON, cached resubmissions.

It "executes" a graph by evaluating each node with a tiny numpy stand-in of what the node
does (loaders read the uploaded files, savers write real PNG / MP4 files), so what the
client downloads are real files made from what it uploaded.

Faults, switched on through `StandIn.faults`: a node class that raises (execution_error),
a node class that hangs until interrupted, a node class at which the websocket is dropped
(and no new socket is accepted), N answers of 500 on /view, and a node class at which the
whole server goes away.
"""

from __future__ import annotations

import asyncio
import copy
import json
import mimetypes
import os
import socket
import struct
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image

from vidpipe_tests.render.comfyui.catalogue import catalogue, validated_by_node

VERSION = "0.33.0"
_500 = "500 Internal Server Error\n\nServer got itself in trouble"


@dataclass
class Faults:
    fail_class: str | None = None  # execution_error when a node of this class runs
    hang_class: str | None = None  # runs until interrupted
    drop_ws_class: str | None = None  # close the socket when this class starts; refuse new ones
    view_500: int = 0  # answer this many /view requests (of outputs) with 500 text/plain
    die_class: str | None = None  # the whole server goes away when this class starts


class _Interrupted(Exception):
    pass


class _NodeFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ts() -> int:
    return int(time.time() * 1000)


def _err(type_: str, message: str, details: str = "", extra: dict | None = None) -> dict:
    return {"type": type_, "message": message, "details": details, "extra_info": extra or {}}


class StandIn:
    def __init__(self, root: Path, models: dict[str, list[str]] | None = None,
                 max_upload: int = 100 * 1024 * 1024):
        self.root = Path(root)
        self.dirs = {t: self.root / t for t in ("input", "output", "temp")}
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self.models = models if models is not None else default_models()
        self.classes = catalogue()
        self.faults = Faults()
        self.hits: Counter = Counter()
        self.max_upload = max_upload
        self.history: OrderedDict[str, dict] = OrderedDict()
        self.pending: list[list] = []
        self.running: list | None = None
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.refuse_ws = False
        self.counter = 0
        self.node_cache: dict[str, tuple] = {}  # input signature -> (outputs, ui)
        self.file_counters: Counter = Counter()
        self.interrupt_flag = False
        self.current_node: str | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._work: asyncio.Event | None = None
        self.alive = False

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "StandIn":
        self.port = free_port()
        ready = threading.Event()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=self.max_upload)
        for prefix in ("", "/api"):
            r = app.router
            r.add_get(prefix + "/ws", self.ws)
            r.add_get(prefix + "/system_stats", self.system_stats)
            r.add_get(prefix + "/object_info", self.object_info)
            r.add_get(prefix + "/object_info/{cls}", self.object_info_one)
            r.add_get(prefix + "/models", self.model_folders)
            r.add_get(prefix + "/models/{folder}", self.model_files)
            r.add_get(prefix + "/prompt", self.get_prompt)
            r.add_post(prefix + "/prompt", self.post_prompt)
            r.add_get(prefix + "/queue", self.get_queue)
            r.add_post(prefix + "/queue", self.post_queue)
            r.add_post(prefix + "/interrupt", self.interrupt)
            r.add_post(prefix + "/free", self.free)
            r.add_get(prefix + "/history", self.get_history)
            r.add_get(prefix + "/history/{prompt_id}", self.get_history_one)
            r.add_post(prefix + "/history", self.post_history)
            r.add_post(prefix + "/upload/image", self.upload)
            r.add_get(prefix + "/view", self.view)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._work = asyncio.Event()
        self._worker = asyncio.ensure_future(self._worker_loop())
        self.alive = True

    def stop(self) -> None:
        """The server goes away: the port closes and every socket drops."""
        if self._loop is None or not self._loop.is_running():
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            fut.result(10)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self.alive = False
        for ws in list(self.sockets.values()):
            await ws.close()
        self._worker.cancel()
        await self._runner.cleanup()

    # --- websocket ----------------------------------------------------------------------

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_ws:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        # Reusing a clientId: like the server, forget the older socket without closing it,
        # so it stays open and hears nothing more.
        self.sockets[sid] = ws
        await ws.send_json({"type": "status", "data": {"status": self._status(), "sid": sid}})
        if self.running is not None and self.running[3].get("client_id") == sid \
                and self.current_node:
            await ws.send_json({"type": "executing", "data": {"node": self.current_node}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if data.get("type") == "feature_flags":
                    await ws.send_json({"type": "feature_flags", "data": {
                        "supports_preview_metadata": True, "max_upload_size": self.max_upload}})
        # As the server does: whichever socket of this clientId closes, the id is forgotten.
        self.sockets.pop(sid, None)
        return ws

    def _status(self) -> dict:
        n = len(self.pending) + (1 if self.running is not None else 0)
        return {"exec_info": {"queue_remaining": n}}

    async def _send(self, client_id: str | None, type_: str, data: dict) -> None:
        targets = ([self.sockets.get(client_id)] if client_id else
                   list(self.sockets.values()) if type_ in ("progress", "progress_state",
                                                             "execution_interrupted") else [])
        for ws in targets:
            if ws is not None and not ws.closed:
                try:
                    await ws.send_json({"type": type_, "data": data})
                except ConnectionError:
                    pass

    async def _send_binary_text(self, client_id: str | None, node_id: str, text: str) -> None:
        ws = self.sockets.get(client_id) if client_id else None
        if ws is not None and not ws.closed:
            nid = node_id.encode()
            await ws.send_bytes(struct.pack(">I", 3) + struct.pack(">I", len(nid)) + nid
                                + text.encode())

    async def _broadcast_status(self) -> None:
        for ws in list(self.sockets.values()):
            if not ws.closed:
                try:
                    await ws.send_json({"type": "status", "data": {"status": self._status()}})
                except ConnectionError:
                    pass

    # --- discovery ----------------------------------------------------------------------

    async def system_stats(self, request: web.Request) -> web.Response:
        self.hits["system_stats"] += 1
        return web.json_response({
            "system": {"os": "posix", "ram_total": 1, "ram_free": 1, "comfyui_version": VERSION,
                       "python_version": "3.11", "pytorch_version": "stand-in",
                       "embedded_python": False, "argv": ["main.py", "--cpu"]},
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0,
                         "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}]})

    def _info(self, cls: str) -> dict:
        info = copy.deepcopy(self.classes[cls])
        for group in ("required", "optional"):
            for name, spec in info["input"][group].items():
                if spec and spec[0] == "__MODELS__":
                    files = sorted(self.models.get(spec[1], []))
                    if spec[1] == "vae":
                        files.append("pixel_space")  # VAELoader always offers it
                    info["input"][group][name] = (
                        ["COMBO", {"multiselect": False, "options": files}] if spec[2]
                        else [files, {}])
                elif spec and spec[0] == "__INPUT_FILE__":
                    _, kind, v3, flag = spec
                    files = self._input_files(kind)
                    extra = {flag: True} if flag else {}
                    info["input"][group][name] = (
                        ["COMBO", {"multiselect": False, "options": files, **extra}] if v3
                        else [files, extra] if extra else [files])
        return info

    def _input_files(self, kind: str) -> list[str]:
        """What a loader's combo lists: files at the top of the input folder (not in
        subfolders, where our uploads go) whose type suits the loader."""
        d = self.dirs["input"]
        return sorted(p.name for p in d.iterdir()
                      if p.is_file() and p.suffix.lower() in _LISTED[kind])

    async def object_info(self, request: web.Request) -> web.Response:
        self.hits["object_info"] += 1
        return web.json_response({c: self._info(c) for c in self.classes})

    async def object_info_one(self, request: web.Request) -> web.Response:
        cls = request.match_info["cls"]
        return web.json_response({cls: self._info(cls)} if cls in self.classes else {})

    async def model_folders(self, request: web.Request) -> web.Response:
        return web.json_response(sorted(self.models))

    async def model_files(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in self.models:
            return web.Response(status=404)
        return web.json_response(sorted(self.models[folder]))

    # --- queue ----------------------------------------------------------------------------

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": self._status()["exec_info"]})

    async def post_prompt(self, request: web.Request) -> web.Response:
        self.hits["prompt"] += 1
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.Response(status=500, text=_500, content_type="text/plain")
        if not isinstance(body, dict) or "prompt" not in body:
            return web.json_response({"error": _err("no_prompt", "No prompt provided",
                                                    "No prompt provided"),
                                      "node_errors": {}}, status=400)
        pid = body.get("prompt_id")
        if pid is not None:
            try:
                ok = str(uuid.UUID(pid)) == pid
            except (ValueError, TypeError, AttributeError):
                ok = False
            if not ok:
                self.counter += 1
                return web.json_response({"error": _err(
                    "invalid_prompt_id", "prompt_id must be a valid UUID",
                    "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
                    "omit it to let the server generate one"),
                    "node_errors": {}}, status=400)
        else:
            pid = str(uuid.uuid4())
        graph = body["prompt"]
        number = body.get("number")
        if number is None:
            number = -self.counter if body.get("front") else self.counter
        self.counter += 1
        refusal, good, node_errors = self._validate(graph)
        if refusal is not None:
            return web.json_response(refusal, status=400)
        extra = dict(body.get("extra_data") or {})
        if body.get("client_id"):
            extra["client_id"] = body["client_id"]
        extra["create_time"] = _ts()
        self.pending.append([number, pid, graph, extra, good])
        await self._broadcast_status()
        self._work.set()
        return web.json_response({"prompt_id": pid, "number": number, "node_errors": node_errors})

    def _validate(self, graph: Any) -> tuple[dict | None, list[str], dict]:
        """POST /prompt's checks, in the order and shapes of the real server's
        validate_prompt (comfyui.md §3, re-checked live against v0.33.0)."""
        if not isinstance(graph, dict):
            return ({"error": _err("no_prompt", "No prompt provided", "No prompt provided"),
                     "node_errors": {}}, [], {})
        outputs = []
        for nid, node in graph.items():
            node = node if isinstance(node, dict) else {}
            title = (node.get("_meta") or {}).get("title")
            if "class_type" not in node:
                return ({"error": _err(
                    "missing_node_type",
                    f"Node '{title or f'ID #{nid}'}' has no class_type. The workflow may be "
                    f"corrupted or a custom node is missing.",
                    f"Node ID '#{nid}'", {"node_id": nid, "class_type": None,
                                         "node_title": title}),
                         "node_errors": {}}, [], {})
            cls = node["class_type"]
            if cls not in self.classes:
                return ({"error": _err(
                    "missing_node_type",
                    f"Node '{title or cls}' not found. The custom node may not be installed.",
                    f"Node ID '#{nid}'", {"node_id": nid, "class_type": cls,
                                         "node_title": title or cls}),
                         "node_errors": {}}, [], {})
            if self.classes[cls]["output_node"]:
                outputs.append(nid)
        if not outputs:
            return ({"error": _err("prompt_no_outputs", "Prompt has no outputs"),
                     "node_errors": {}}, [], {})
        done: dict[str, tuple[bool, list[dict]]] = {}
        good, failed, node_errors = [], [], {}
        for out in outputs:
            try:
                ok, reasons = self._validate_node(graph, out, done, [])
            except Exception as exc:  # a broken link of the output node itself
                ok, reasons = False, [_err("exception_during_validation",
                                           "Exception when validating node", str(exc),
                                           {"exception_type": type(exc).__name__,
                                            "traceback": [f"  stand-in: {exc!r}\n"]})]
                done[out] = (False, reasons)
            if ok:
                good.append(out)
                continue
            failed.append((out, reasons))
            # Like the server: every node with errors of its own so far gets this output.
            for nid, (valid, errs) in done.items():
                if not valid and errs:
                    entry = node_errors.setdefault(nid, {
                        "errors": errs, "dependent_outputs": [],
                        "class_type": graph[nid]["class_type"]})
                    entry["dependent_outputs"].append(out)
        if not good:
            details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failed
                                for e in errs)
            return ({"error": _err("prompt_outputs_failed_validation",
                                   "Prompt outputs failed validation", details),
                     "node_errors": node_errors}, [], {})
        return None, good, node_errors

    def _validate_node(self, graph: dict, nid: str, done: dict, visiting: list
                       ) -> tuple[bool, list[dict]]:
        """One node, then (depth first) what it links to. A KeyError / IndexError from a
        link to a missing node or output escapes to the caller, as in the server."""
        if nid in done:
            return done[nid]
        if nid in visiting:
            path = visiting[visiting.index(nid):] + [nid]
            members = list(dict.fromkeys(path))
            details = " -> ".join(f"{n} ({graph[n]['class_type']})" for n in path)
            for n in members:
                done[n] = (False, [_err("dependency_cycle", "Dependency cycle detected", details,
                                        {"node_id": n, "cycle_nodes": members})])
            return done[nid]
        node = graph[nid]
        cls = node["class_type"]
        info = self._info(cls)
        inputs = node.get("inputs", {})
        own = validated_by_node(cls)
        errors: list[dict] = []
        valid = True
        groups = [("required", info["input"]["required"]), ("optional", info["input"]["optional"])]
        for group, specs in groups:
            for name, spec in specs.items():
                kind = spec[0]
                extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                config = [kind, extra]
                if name not in inputs:
                    if group == "required":
                        errors.append(_err("required_input_missing", "Required input is missing",
                                           name, {"input_name": name}))
                    continue
                value = inputs[name]
                if isinstance(value, list):
                    if len(value) != 2:
                        errors.append(_err("bad_linked_input", "Bad linked input, must be a "
                                           "length-2 list of [node_id, slot_index]", name,
                                           {"input_name": name, "input_config": config,
                                            "received_value": value}))
                        continue
                    src_id = value[0]
                    src = graph[src_id]  # KeyError for a missing node id
                    got = tuple(self.classes[src["class_type"]]["output"])[value[1]]  # IndexError
                    if not _type_fits(got, kind):
                        errors.append(_err("return_type_mismatch",
                                           "Return type mismatch between linked nodes",
                                           f"{name}, received_type({got}) mismatch input_type({kind})",
                                           {"input_name": name, "input_config": config,
                                            "received_type": got, "linked_node": value}))
                        continue
                    try:
                        visiting.append(nid)
                        try:
                            ok, _ = self._validate_node(graph, src_id, done, visiting)
                        finally:
                            visiting.pop()
                        if not ok:
                            valid = False
                    except Exception as exc:
                        valid = False
                        # Stored on the linked node, with *this* node's input and link.
                        done[src_id] = (False, [_err(
                            "exception_during_inner_validation",
                            "Exception when validating inner node", str(exc),
                            {"input_name": name, "input_config": config,
                             "exception_message": str(exc),
                             "exception_type": type(exc).__name__,
                             "traceback": [f"  stand-in: {exc!r}\n"], "linked_node": value})])
                    continue
                if isinstance(value, dict) and "__value__" in value:
                    value = value["__value__"]
                try:
                    if kind == "INT":
                        value = int(value)
                    elif kind == "FLOAT":
                        value = float(value)
                    elif kind == "STRING":
                        value = str(value)
                    elif kind == "BOOLEAN":
                        value = bool(value)
                except (TypeError, ValueError) as exc:
                    errors.append(_err("invalid_input_type",
                                       f"Failed to convert an input value to a {kind} value",
                                       f"{name}, {value}, {exc}",
                                       {"input_name": name, "input_config": config,
                                        "received_value": value, "exception_message": str(exc)}))
                    continue
                if name in own:
                    continue
                if "min" in extra and value < extra["min"]:
                    errors.append(_err("value_smaller_than_min",
                                       f"Value {value} smaller than min of {extra['min']}", name,
                                       {"input_name": name, "input_config": config,
                                        "received_value": value}))
                    continue
                if "max" in extra and value > extra["max"]:
                    errors.append(_err("value_bigger_than_max",
                                       f"Value {value} bigger than max of {extra['max']}", name,
                                       {"input_name": name, "input_config": config,
                                        "received_value": value}))
                    continue
                if isinstance(kind, list) or kind == "COMBO":
                    options = kind if isinstance(kind, list) else extra.get("options", [])
                    if value not in options:
                        shown = (f"(list of length {len(options)})" if len(options) > 20
                                 else str(options))
                        errors.append(_err("value_not_in_list", "Value not in list",
                                           f"{name}: {value!r} not in {shown}",
                                           {"input_name": name,
                                            "input_config": None if len(options) > 20 else config,
                                            "received_value": value}))
        for name in sorted(own):
            value = inputs.get(name)
            if value is not None and not isinstance(value, list) \
                    and self._input_path(str(value)) is None:
                label = _INVALID_FILE.get(cls, "Invalid file")
                errors.append(_err("custom_validation_failed", "Custom validation failed for node",
                                   f"{name} - {label}: {value}", {"input_name": name}))
        prev_ok, prev = done.get(nid, (True, []))
        result = (prev_ok and valid and not errors, prev + [e for e in errors if e not in prev])
        done[nid] = result
        return result

    async def get_queue(self, request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [self.running] if self.running else [],
                                  "queue_pending": self.pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request)
        if body is None:
            return web.Response(status=500, text=_500, content_type="text/plain")
        if body.get("clear"):
            self.pending.clear()
        for pid in body.get("delete", []):
            self.pending = [p for p in self.pending if p[1] != pid]
        await self._broadcast_status()
        return web.Response(status=200)

    async def interrupt(self, request: web.Request) -> web.Response:
        self.hits["interrupt"] += 1
        body = await _json_or_none(request) or {}
        pid = body.get("prompt_id")
        if self.running is not None and (pid is None or pid == self.running[1]):
            self.interrupt_flag = True
        return web.Response(status=200)

    async def free(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        items = list(self.history.items())
        if "max_items" in request.query:
            n = int(request.query["max_items"])
            off = int(request.query.get("offset", -1))
            items = items[-n:] if off < 0 else items[off:off + n]
        return web.json_response(dict(items))

    async def get_history_one(self, request: web.Request) -> web.Response:
        self.hits["history_one"] += 1
        pid = request.match_info["prompt_id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def post_history(self, request: web.Request) -> web.Response:
        body = await _json_or_none(request) or {}
        if body.get("clear"):
            self.history.clear()
        for pid in body.get("delete", []):
            self.history.pop(pid, None)
        return web.Response(status=200)

    # --- files ----------------------------------------------------------------------------

    def _input_path(self, value: str) -> Path | None:
        kind = "input"
        for t in ("output", "temp", "input"):
            if value.endswith(f" [{t}]"):
                value, kind = value[: -len(f" [{t}]")], t
        base = self.dirs[kind].resolve()
        p = (base / value).resolve()
        if not str(p).startswith(str(base)) or not p.is_file():
            return None
        return p

    async def upload(self, request: web.Request) -> web.Response:
        self.hits["upload"] += 1
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text=f"Maximum request body size {self.max_upload} exceeded.",
                                content_type="text/plain")
        part = form.get("image")
        if part is None or not hasattr(part, "file"):
            return web.Response(status=400)
        type_ = form.get("type", "input")
        if type_ not in self.dirs:
            return web.Response(status=500, text=_500, content_type="text/plain")
        sub = form.get("subfolder", "")
        base = self.dirs[type_].resolve()
        folder = (base / sub).resolve()
        if not str(folder).startswith(str(base)):
            return web.Response(status=400)
        folder.mkdir(parents=True, exist_ok=True)
        data = part.file.read()
        name = os.path.basename(part.filename)
        target = folder / name
        overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
        if target.exists() and not overwrite:
            if target.read_bytes() == data:
                return web.json_response({"name": name, "subfolder": sub, "type": type_})
            stem, ext = os.path.splitext(name)
            i = 1
            while (folder / f"{stem} ({i}){ext}").exists():
                i += 1
            name = f"{stem} ({i}){ext}"
            target = folder / name
        target.write_bytes(data)
        self.hits["upload_written"] += 1
        return web.json_response({"name": name, "subfolder": sub, "type": type_})

    async def view(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        filename = q.get("filename")
        if not filename:
            return web.Response(status=400)
        type_ = q.get("type", "output")
        for t in ("output", "temp", "input"):
            if filename.endswith(f" [{t}]"):
                filename, type_ = filename[: -len(f" [{t}]")], t
        if type_ not in self.dirs or filename.startswith("/") or ".." in filename:
            return web.Response(status=400)
        if type_ == "output":
            self.hits["view_output"] += 1
            if self.faults.view_500 > 0:
                self.faults.view_500 -= 1
                return web.Response(status=500, text=_500, content_type="text/plain")
        else:
            self.hits["view_" + type_] += 1
        base = self.dirs[type_].resolve()
        folder = (base / q.get("subfolder", "")).resolve()
        if not str(folder).startswith(str(base)):
            return web.Response(status=403)
        path = folder / filename
        if not path.is_file():
            return web.Response(status=404)
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.Response(body=path.read_bytes(), content_type=ctype,
                            headers={"Content-Disposition": f'filename="{filename}"'})

    # --- execution --------------------------------------------------------------------------

    async def _worker_loop(self) -> None:
        while True:
            await self._work.wait()
            self._work.clear()
            while self.pending:
                self.pending.sort(key=lambda p: p[0])
                item = self.pending.pop(0)
                self.running = item
                try:
                    await self._execute(item)
                finally:
                    self.running = None
                    self.current_node = None
                    self.interrupt_flag = False

    async def _execute(self, item: list) -> None:
        number, pid, graph, extra, outputs = item
        cid = extra.get("client_id")
        messages: list[list] = []
        states: dict[str, dict] = {}  # progress_state: every node that is not pending

        async def lifecycle(type_: str, data: dict) -> None:
            data = {"prompt_id": pid, **data, "timestamp": _ts()}
            messages.append([type_, data])
            await self._send(cid, type_, data)

        async def state(nid: str, st: str, value: float, max_: float) -> None:
            states[nid] = {"value": value, "max": max_, "state": st, "node_id": nid,
                           "prompt_id": pid, "display_node_id": nid, "parent_node_id": None,
                           "real_node_id": nid}
            await self._send(cid, "progress_state", {"prompt_id": pid,
                                                     "nodes": copy.deepcopy(states)})

        async def progress(nid: str, value: int, max_: int) -> None:
            # the server updates the snapshot first, then sends the plain progress event
            await state(nid, "running", value, max_)
            await self._send(cid, "progress", {"value": value, "max": max_, "prompt_id": pid,
                                               "node": nid})

        await self._broadcast_status()
        await lifecycle("execution_start", {})
        # Outputs are cached per node, keyed by what goes into the node (as the server's
        # cache does): a node whose inputs did not change is not run again, and what it
        # feeds takes its cached value without the node being visited at all.
        sig = self._signatures(graph)
        await lifecycle("execution_cached", {"nodes": [n for n in graph
                                                        if sig[n] in self.node_cache]})
        values: dict[str, tuple] = {}
        order: list[str] = []
        seen: set = set()

        def visit(nid: str, root: bool) -> None:
            if nid in seen:
                return
            seen.add(nid)
            hit = self.node_cache.get(sig[nid])
            if hit is not None:
                values[nid] = hit[0]
                if root:
                    order.append(nid)
                return
            for v in graph[nid].get("inputs", {}).values():
                if isinstance(v, list) and len(v) == 2:
                    visit(str(v[0]), False)
            order.append(nid)

        for out in outputs:
            visit(out, True)
        ui_out: dict[str, dict] = {}
        status = "success"
        executed: list[str] = []
        try:
            for nid in order:
                node = graph[nid]
                cls = node["class_type"]
                hit = self.node_cache.get(sig[nid])
                if hit is not None:  # a cached output node: its UI is sent again
                    if hit[1] is not None:
                        ui_out[nid] = copy.deepcopy(hit[1])
                        await self._send(cid, "executed", {"node": nid, "display_node": nid,
                                                           "output": hit[1],
                                                           "prompt_id": pid})
                    await state(nid, "finished", 1.0, 1.0)
                    executed.append(nid)
                    continue
                if self.interrupt_flag:
                    raise _Interrupted(nid)
                if self.faults.die_class == cls:
                    self.faults.die_class = None
                    asyncio.ensure_future(self._shutdown())
                    await asyncio.sleep(3600)
                self.current_node = nid
                await state(nid, "running", 0.0, 1.0)
                await self._send(cid, "executing", {"node": nid, "display_node": nid,
                                                    "prompt_id": pid})
                if self.faults.drop_ws_class == cls:
                    self.faults.drop_ws_class = None
                    self.refuse_ws = True
                    ws = self.sockets.pop(cid, None)
                    if ws is not None:
                        await ws.close()
                if self.faults.hang_class == cls:
                    step = 0
                    while not self.interrupt_flag:
                        step += 1
                        await progress(nid, step % 100, 100)
                        await asyncio.sleep(0.05)
                    raise _Interrupted(nid)
                if self.faults.fail_class == cls:
                    raise _NodeFailed(nid)
                args = self._resolve(node, values)
                if cls in _STEPPED:
                    for s in range(1, 4):
                        await progress(nid, s, 3)
                try:
                    result, ui = await asyncio.to_thread(self._run_node, cls, args, node)
                except Exception as exc:  # like the server: any node error is an execution_error
                    raise _NodeFailed(nid, exc) from exc
                if cls == "GetImageSize":  # the one core node here that sends node text
                    w, h, n = result
                    await self._send_binary_text(
                        cid, nid, f"width: {w}, height: {h}\n batch size: {n}")
                values[nid] = result
                self.node_cache[sig[nid]] = (result, copy.deepcopy(ui))
                executed.append(nid)
                if ui is not None:
                    ui_out[nid] = ui
                    await self._send(cid, "executed", {"node": nid, "display_node": nid,
                                                       "output": ui, "prompt_id": pid})
                await state(nid, "finished", 1.0, 1.0)
        except _Interrupted as exc:
            nid = str(exc.args[0])
            status = "error"
            await lifecycle("execution_interrupted", {"node_id": nid,
                                                      "node_type": graph[nid]["class_type"],
                                                      "executed": executed})
        except _NodeFailed as exc:
            nid = str(exc.args[0])
            status = "error"
            node = graph[nid]
            cause = exc.args[1] if len(exc.args) > 1 else None
            await lifecycle("execution_error", {
                "node_id": nid, "node_type": node["class_type"], "executed": executed,
                "exception_message": (str(cause) if cause is not None else
                                      f"stand-in: {node['class_type']} failed on purpose"),
                "exception_type": type(cause).__name__ if cause is not None else "RuntimeError",
                "traceback": ["  File \"standin.py\", line 1, in run\n"],
                "current_inputs": {k: [repr(v)] for k, v in node["inputs"].items()},
                "current_outputs": order})
        if status == "success":
            await lifecycle("execution_success", {})
        self.history[pid] = {
            "prompt": [number, pid, graph, {k: v for k, v in extra.items()}, outputs],
            "outputs": ui_out if status == "success" else {},
            "status": {"status_str": status, "completed": status == "success",
                       "messages": messages},
            "meta": {n: {"node_id": n, "display_node": n, "parent_node": None,
                         "real_node_id": n} for n in ui_out}}
        self.running = None
        await self._broadcast_status()
        await self._send(cid, "executing", {"node": None, "prompt_id": pid})

    def _signatures(self, graph: dict) -> dict[str, str]:
        """What each node's output depends on: its class, its literal inputs, the files a
        loader reads (size and mtime) and the signatures of what it links to."""
        sig: dict[str, str] = {}

        def of(nid: str) -> str:
            if nid not in sig:
                node = graph[nid]
                parts = {}
                for k, v in sorted(node.get("inputs", {}).items()):
                    if isinstance(v, list) and len(v) == 2:
                        parts[k] = ["link", of(str(v[0])), v[1]]
                    else:
                        parts[k] = v
                        if k in validated_by_node(node["class_type"]):
                            p = self._input_path(str(v))
                            if p is not None:
                                st = p.stat()
                                parts[k] = [v, st.st_size, st.st_mtime_ns]
                sig[nid] = json.dumps([node["class_type"], parts], sort_keys=True, default=str)
            return sig[nid]

        for nid in graph:
            of(nid)
        return sig

    def _resolve(self, node: dict, values: dict) -> dict:
        args = {}
        for name, v in node["inputs"].items():
            if isinstance(v, list) and len(v) == 2:
                args[name] = values[str(v[0])][v[1]]
            elif isinstance(v, dict) and "__value__" in v:
                args[name] = v["__value__"]
            else:
                args[name] = v
        return args

    # --- what each node "does" --------------------------------------------------------------

    def _run_node(self, cls: str, a: dict, node: dict) -> tuple[tuple, dict | None]:
        info = self.classes[cls]
        fn = getattr(self, "_n_" + cls.replace("-", "_").replace(" ", "_"), None)
        if fn is not None:
            return fn(a)
        outs = []
        for t in info["output"]:
            if t == "IMAGE":
                outs.append(next((v for v in a.values() if _is_images(v)), [_blank()]))
            elif t == "MASK":
                img = next((v for v in a.values() if _is_images(v)), [_blank()])
                outs.append([np.ones(img[0].shape[:2], np.float32)])
            elif t == "LATENT":
                outs.append(next((v for v in a.values() if isinstance(v, dict) and "frames" in v),
                                 {"frames": [_blank()]}))
            elif t == "AUDIO":
                outs.append(next((v for v in a.values() if isinstance(v, dict) and "path" in v),
                                 None))
            else:
                outs.append(("token", cls, t))
        return tuple(outs), None

    def _n_LoadImage(self, a):
        with Image.open(self._input_path(a["image"])) as im:
            rgba = np.asarray(im.convert("RGBA"))
        return ([rgba[..., :3].copy()], [1.0 - rgba[..., 3].astype(np.float32) / 255.0]), None

    def _n_LoadAudio(self, a):
        return ({"path": self._input_path(a["audio"])},), None

    def _n_VHS_LoadVideo(self, a):
        from vidpipe.media.video import iter_frames

        frames = list(iter_frames(self._input_path(a["video"])))
        frames = frames[int(a.get("skip_first_frames", 0)):][::max(1, int(a.get("select_every_nth", 1)))]
        if int(a.get("frame_load_cap", 0)):
            frames = frames[: int(a["frame_load_cap"])]
        return (frames, len(frames), None, {"loaded_frame_count": len(frames)}), None

    def _save_name(self, prefix: str, ext: str, trailing: str, kind: str = "output"
                   ) -> tuple[Path, str, str]:
        sub, _, base = prefix.rpartition("/")
        folder = self.dirs[kind] / sub
        folder.mkdir(parents=True, exist_ok=True)
        self.file_counters[(kind, prefix)] += 1
        name = f"{base}_{self.file_counters[(kind, prefix)]:05d}{trailing}{ext}"
        return folder / name, name, sub

    def _n_SaveImage(self, a):
        files = []
        for img in a["images"]:
            path, name, sub = self._save_name(a.get("filename_prefix", "ComfyUI"), ".png", "_")
            Image.fromarray(img).save(path)
            files.append({"filename": name, "subfolder": sub, "type": "output"})
        return (a["images"],), {"images": files}

    def _write_mp4(self, path: Path, frames: list, fps: float) -> None:
        from vidpipe.media.video import ClipWriter

        h, w = frames[0].shape[:2]
        even = (w + w % 2, h + h % 2)
        with ClipWriter(path, even, float(fps)) as writer:
            for f in frames:
                writer.write(np.ascontiguousarray(
                    np.pad(f, ((0, even[1] - h), (0, even[0] - w), (0, 0)), mode="edge")))

    def _n_VHS_VideoCombine(self, a):
        frames = a["images"]
        # save_output false puts the file in temp/ and says so in the entry's type
        kind = "output" if a.get("save_output", True) else "temp"
        path, name, sub = self._save_name(a.get("filename_prefix", "AnimateDiff"), ".mp4", "",
                                          kind)
        self._write_mp4(path, frames, float(a.get("frame_rate", 8)))
        png = path.with_suffix(".png")
        Image.fromarray(frames[0]).save(png)
        entry = {"filename": name, "subfolder": sub, "type": kind,
                 "format": a.get("format", "video/h264-mp4"),
                 "frame_rate": float(a.get("frame_rate", 8)), "workflow": png.name,
                 "fullpath": str(path)}
        return ((True, [str(png), str(path)]),), {"gifs": [entry]}

    def _n_SaveAudio(self, a):
        import subprocess

        from vidpipe.media.video import ffmpeg_exe

        path, name, sub = self._save_name(a.get("filename_prefix", "audio/ComfyUI"), ".flac", "")
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(a["audio"]["path"]),
                        str(path)], check=True)
        return (a["audio"],), {"audio": [{"filename": name, "subfolder": sub, "type": "output"}]}

    def _n_LoadVideo(self, a):
        from vidpipe.media.video import iter_frames, probe_video

        path = self._input_path(a["file"])
        return ({"frames": list(iter_frames(path)), "fps": probe_video(path).fps},), None

    def _n_GetVideoComponents(self, a):
        v = a["video"]
        return (v["frames"], None, float(v["fps"]), 8, "sRGB"), None

    def _n_CreateVideo(self, a):
        return ({"frames": list(a["images"]), "fps": float(a["fps"])},), None

    def _n_SaveVideo(self, a):
        path, name, sub = self._save_name(a.get("filename_prefix", "video/ComfyUI"), ".mp4", "_")
        self._write_mp4(path, a["video"]["frames"], a["video"]["fps"])
        # videos are listed under "images", marked by "animated"
        return (a["video"],), {"images": [{"filename": name, "subfolder": sub, "type": "output"}],
                               "animated": [True]}

    def _n_GetImageSize(self, a):
        h, w = a["image"][0].shape[:2]
        return (w, h, len(a["image"])), None

    def _n_PreviewAny(self, a):
        return (str(a["source"]),), {"text": [str(a["source"])]}

    def _n_ImageScale(self, a):
        import cv2

        w, h = int(a["width"]), int(a["height"])
        return ([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in a["image"]],), None

    def _n_ImageUpscaleWithModel(self, a):
        return ([np.repeat(np.repeat(f, 4, axis=0), 4, axis=1) for f in a["image"]],), None

    def _n_ImageToMask(self, a):
        ch = {"red": 0, "green": 1, "blue": 2}.get(a["channel"], 0)
        return ([f[..., ch].astype(np.float32) / 255.0 for f in a["image"]],), None

    def _n_MaskToImage(self, a):
        return ([np.repeat((np.clip(m, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
                 for m in a["mask"]],), None

    def _n_DepthAnything_V2(self, a):
        out = []
        for f in a["images"]:
            h = f.shape[0]
            ramp = np.linspace(40, 255, h, dtype=np.float32)[:, None]
            grey = np.clip(ramp * 0.8 + f.mean(axis=2) * 0.2, 0, 255).astype(np.uint8)
            out.append(np.repeat(np.broadcast_to(grey, f.shape[:2])[..., None], 3, axis=2).copy())
        return (out,), None

    def _n_Sam2Segmentation(self, a):
        out = []
        for f in a["image"]:
            border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]]).astype(np.float32)
            diff = np.abs(f.astype(np.float32) - np.median(border, axis=0)).sum(axis=2)
            out.append((diff > 60).astype(np.float32))
        return (out,), None

    def _n_IDM_VTON(self, a):
        import cv2

        human, garment = a["human_img"][0], a["garment_img"][0]
        mask = a["mask_img"][0][..., 0:1].astype(np.float32) / 255.0
        tint = garment.reshape(-1, 3).mean(axis=0)
        img = np.clip(human * (1 - 0.5 * mask) + tint * 0.5 * mask, 0, 255).astype(np.uint8)
        w, h = int(a["width"]), int(a["height"])
        return ([cv2.resize(img, (w, h))], [cv2.resize(mask[..., 0], (w, h))]), None

    def _n_MimicMotionGetPoses(self, a):
        ref = a["ref_image"][0]
        return ([ref] + list(a["pose_images"]), list(a["pose_images"])), None

    def _n_MimicMotionSampler(self, a):
        return ({"frames": list(a["pose_images"])},), None

    def _n_MimicMotionDecode(self, a):
        return (list(a["samples"]["frames"]),), None

    def _n_InpaintModelConditioning(self, a):
        return (a["positive"], a["negative"], {"frames": list(a["pixels"])}), None

    def _n_VAEEncode(self, a):
        return ({"frames": list(a["pixels"])},), None

    def _n_VAEDecode(self, a):
        return (list(a["samples"]["frames"]),), None

    def _n_RIFE_VFI(self, a):
        frames, m = a["frames"], int(a["multiplier"])
        out = []
        for f, g in zip(frames, frames[1:]):
            for k in range(m):
                out.append(((f.astype(np.float32) * (m - k) + g.astype(np.float32) * k) / m)
                           .astype(np.uint8))
        out.append(frames[-1])
        return (out,), None


_STEPPED = {"KSampler", "ImageUpscaleWithModel", "MimicMotionSampler", "LatentSyncNode",
            "VHS_LoadVideo", "VHS_VideoCombine",
            "IDM-VTON", "OOTDGenerate", "CatVTONWrapper"}


_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
_VIDEO_EXT = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v"}
_AUDIO_EXT = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"}
_LISTED = {"image": _IMAGE_EXT, "audio": _AUDIO_EXT | _VIDEO_EXT, "video": _VIDEO_EXT,
           "vhs_video": {".webm", ".mp4", ".mkv", ".gif", ".mov"}}


_INVALID_FILE = {"LoadImage": "Invalid image file", "LoadAudio": "Invalid audio file",
                 "LoadVideo": "Invalid video file", "VHS_LoadVideo": "Invalid video file"}


def _type_fits(got, want) -> bool:
    """The server's link type check: equal, '*' on either side, or overlapping
    comma-separated type lists."""
    if got == want or got == "*" or want == "*":
        return True
    if not isinstance(got, str) or not isinstance(want, str):
        return False
    return bool({t.strip() for t in got.split(",")} & {t.strip() for t in want.split(",")})


def _is_images(v) -> bool:
    return isinstance(v, list) and bool(v) and isinstance(v[0], np.ndarray) and v[0].ndim == 3


def _blank() -> np.ndarray:
    return np.zeros((8, 8, 3), np.uint8)


async def _json_or_none(request: web.Request):
    text = await request.text()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return None


def default_models() -> dict[str, list[str]]:
    """Model folders holding every file the shipped workflows name."""
    return {
        "checkpoints": ["sd_xl_base_1.0_inpainting_0.1.safetensors", "v1-5-pruned-emaonly.safetensors"],
        "controlnet": ["controlnet-depth-sdxl-1.0.safetensors"],
        "diffusion_models": ["flux1-fill-dev.safetensors"],
        "text_encoders": ["clip_l.safetensors", "t5xxl_fp16.safetensors"],
        "vae": ["ae.safetensors"],
        "clip_vision": ["CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", "sigclip_vision_patch14_384.safetensors"],
        "style_models": ["flux1-redux-dev.safetensors"],
        "ipadapter": ["ip-adapter-plus_sdxl_vit-h.safetensors", "ip-adapter-plus_sd15.safetensors"],
        "upscale_models": ["RealESRGAN_x4plus.pth"],
        "animatediff_models": ["v3_sd15_mm.ckpt"],
        "loras": [],
    }
