"""A client for one ComfyUI server, following shared/reference/comfyui.md.

One call, `run`, does what a stage needs: open the websocket with a fresh clientId *before*
queueing (so no early event is missed), POST /prompt with a client-side prompt_id, follow
progress, stop on `executing {node: null}` for our prompt_id (history is written just before
it), then read GET /history/{id}. Files go up through /upload/image under content-hash
names (a re-run uploads nothing) and come down through /view.

Failure handling, all in this module:
- connection errors and 5xx answers are retried with exponential backoff, then raised as
  `ComfyUnavailable` (the server pool then moves the work to another server);
- a 400 from /prompt, an `execution_error` or `execution_interrupted` become typed errors
  naming the node id, class_type, our title and the input at fault;
- when the websocket drops, the client reconnects once with the same clientId, else polls
  /history until the entry appears;
- past the stage's time limit the prompt is interrupted (POST /interrupt with its id) and
  deleted from the queue, and `ComfyTimeout` is raised.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from vidpipe.render.comfyui.errors import (ComfyError, ComfyExecutionError, ComfyInterrupted,
                                           ComfyTimeout, ComfyUnavailable, ComfyValidationError,
                                           NodeProblem)
from vidpipe.render.comfyui.messages import (FileRef, HistoryEntry, PromptRefusal, PromptReply,
                                             WsMessage, file_refs)
from vidpipe.storage import file_sha256

log = logging.getLogger(__name__)

UPLOAD_SUBFOLDER = "vidpipe"
_BINARY_TEXT = 3  # binary frame type: node text (protocol.py)


@dataclass
class ComfyProgress:
    """One thing worth telling the user while a prompt runs."""

    server: str
    workflow: str
    prompt_id: str
    event: str  # "queued" | "executing" | "progress" | "cached" | "text" | "polling" | "done"
    node_id: str | None = None
    title: str | None = None
    class_type: str | None = None
    value: float | None = None
    max: float | None = None
    text: str = ""

    def line(self) -> str:
        where = f" {self.title or self.class_type or self.node_id}" if self.node_id else ""
        frac = f" {self.value:g}/{self.max:g}" if self.value is not None and self.max else ""
        extra = f" {self.text}" if self.text else ""
        return f"{self.workflow}: {self.event}{where}{frac}{extra}"


ProgressCallback = Callable[[ComfyProgress], None]


@dataclass
class OutputFile:
    node_id: str
    title: str | None
    key: str  # the UI key it came under: images / gifs / audio / ...
    ref: FileRef
    animated: bool = False


@dataclass
class PromptResult:
    server: str
    prompt_id: str
    outputs: list[OutputFile]
    seconds: float
    cached_nodes: list[str] = field(default_factory=list)
    watched: str = "websocket"  # or "polling" when the socket dropped

    def files_for(self, title: str) -> list[OutputFile]:
        return [o for o in self.outputs if o.title == title]


class ComfyClient:
    """HTTP + websocket client for one server URL (e.g. http://127.0.0.1:8188)."""

    def __init__(self, url: str, *, request_timeout_s: float = 30.0, retries: int = 3,
                 backoff_s: float = 0.5, poll_s: float = 0.5, quiet_poll_s: float = 5.0):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            self.url = "http://" + self.url
        self.ws_url = "ws" + self.url[len("http"):]
        self.request_timeout_s = request_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self.quiet_poll_s = quiet_poll_s
        self._session = requests.Session()
        self._uploaded: set[str] = set()  # names known to be in this server's input folder
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ComfyClient({self.url!r})"

    # --- plain HTTP ---------------------------------------------------------------------

    def _call(self, method: str, path: str, *, retry_5xx: bool = True, retries: int | None = None,
              **kw) -> requests.Response:
        """One request with retries on connection errors and 5xx; raises ComfyUnavailable."""
        kw.setdefault("timeout", self.request_timeout_s)
        attempts = 1 + (self.retries if retries is None else retries)
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
                for f in kw.get("files", {}).values() if isinstance(kw.get("files"), dict) else ():
                    if hasattr(f[1], "seek"):
                        f[1].seek(0)
            try:
                resp = self._session.request(method, self.url + path, **kw)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{method} {path}: {type(exc).__name__}"
                continue
            if resp.status_code >= 500 and retry_5xx:
                last = f"{method} {path}: HTTP {resp.status_code} {resp.text[:200].strip()!r}"
                continue
            return resp
        raise ComfyUnavailable(self.url, last)

    def _json(self, method: str, path: str, **kw) -> Any:
        resp = self._call(method, path, **kw)
        if resp.status_code != 200:
            raise ComfyError(f"ComfyUI at {self.url}: {method} {path} answered "
                             f"{resp.status_code} {resp.text[:300]!r}")
        try:
            return resp.json()
        except ValueError:
            raise ComfyError(f"ComfyUI at {self.url}: {method} {path} did not answer JSON: "
                             f"{resp.text[:200]!r}") from None

    def system_stats(self) -> dict:
        return self._json("GET", "/system_stats")

    def object_info(self, class_type: str | None = None) -> dict:
        return self._json("GET", "/object_info" + (f"/{class_type}" if class_type else ""))

    def model_folders(self) -> list[str]:
        return list(self._json("GET", "/models"))

    def model_files(self, folder: str) -> list[str] | None:
        """Files in a model folder; None when the server has no such folder (404)."""
        resp = self._call("GET", f"/models/{folder}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise ComfyError(f"ComfyUI at {self.url}: GET /models/{folder} answered "
                             f"{resp.status_code}")
        return list(resp.json())

    def queue_remaining(self) -> int:
        return int(self._json("GET", "/prompt")["exec_info"]["queue_remaining"])

    def history(self, prompt_id: str) -> HistoryEntry | None:
        """The history entry, or None while it is not written (unknown ids give {})."""
        data = self._json("GET", f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return HistoryEntry.model_validate(entry) if entry else None

    def interrupt(self, prompt_id: str | None = None) -> None:
        body = {"prompt_id": prompt_id} if prompt_id else {}
        self._call("POST", "/interrupt", json=body, retries=1)

    def cancel(self, prompt_id: str) -> None:
        """Stop a prompt whether it is running (interrupt) or waiting (queue delete)."""
        try:
            self._call("POST", "/queue", json={"delete": [prompt_id]}, retries=1)
            self.interrupt(prompt_id)
        except ComfyUnavailable:
            log.warning("could not cancel prompt %s on %s", prompt_id, self.url)

    def _queued(self, prompt_id: str) -> bool:
        queue = self._json("GET", "/queue")
        items = queue.get("queue_running", []) + queue.get("queue_pending", [])
        return any(len(i) > 1 and i[1] == prompt_id for i in items) or \
            self.history(prompt_id) is not None

    # --- files --------------------------------------------------------------------------

    def upload(self, path: Path, *, on_send: Callable[[str], None] | None = None) -> str:
        """Put a local file in the server's input folder; returns the value for a loader.

        The name is the file's content hash, so the same bytes always have the same name:
        if this client uploaded it already, or /view finds it in the input folder, nothing
        is sent again. `on_send(name)` is called only when the bytes are really sent.
        """
        path = Path(path)
        name = f"{file_sha256(path)[:32]}{path.suffix.lower()}"
        ref = f"{UPLOAD_SUBFOLDER}/{name}"
        with self._lock:
            if ref in self._uploaded:
                return ref
        resp = self._call("GET", "/view", params={"filename": name, "subfolder": UPLOAD_SUBFOLDER,
                                                  "type": "input"}, stream=True)
        resp.close()
        if resp.status_code != 200:
            if on_send is not None:
                on_send(name)
            with open(path, "rb") as fh:
                resp = self._call("POST", "/upload/image",
                                  files={"image": (name, fh, "application/octet-stream")},
                                  data={"type": "input", "subfolder": UPLOAD_SUBFOLDER,
                                        "overwrite": "true"})
            if resp.status_code != 200:
                raise ComfyError(f"ComfyUI at {self.url}: uploading {path} failed with HTTP "
                                 f"{resp.status_code} {resp.text[:200]!r}")
            got = resp.json()
            sub = got.get("subfolder") or ""
            ref = f"{sub}/{got['name']}" if sub else got["name"]
        with self._lock:
            self._uploaded.add(ref)
        return ref

    def download(self, ref: FileRef, dest: Path) -> Path:
        """GET /view the file into `dest` (retried on 5xx and dropped connections)."""
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        resp = self._call("GET", "/view", params=params, stream=True)
        if resp.status_code != 200:
            resp.close()
            raise ComfyError(f"ComfyUI at {self.url}: output {ref.subfolder}/{ref.filename} "
                             f"({ref.type}) could not be downloaded: HTTP {resp.status_code}")
        dest = Path(dest)
        try:
            with open(dest, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    fh.write(chunk)
        except requests.RequestException as exc:
            raise ComfyUnavailable(self.url, f"download of {ref.filename} broke off: {exc}") \
                from None
        return dest

    # --- running a prompt ---------------------------------------------------------------

    def submit(self, graph: dict, *, client_id: str, prompt_id: str, workflow: str,
               required_outputs: set[str] | None = None) -> PromptReply:
        """POST /prompt; a refusal (400) or a dropped required output raises."""
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id,
                "extra_data": {"vidpipe": {"workflow": workflow}}}
        last = ""
        for attempt in range(1 + self.retries):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
                try:  # the first POST may have landed before the connection broke
                    if self._queued(prompt_id):
                        return PromptReply(prompt_id=prompt_id)
                except ComfyError:
                    pass
            try:
                resp = self._session.post(self.url + "/prompt", json=body,
                                          timeout=self.request_timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"POST /prompt: {type(exc).__name__}"
                continue
            if resp.status_code >= 500:
                last = f"POST /prompt: HTTP {resp.status_code} {resp.text[:200]!r}"
                continue
            break
        else:
            raise ComfyUnavailable(self.url, last)
        if resp.status_code == 400:
            raise self._refusal(resp, graph, workflow)
        if resp.status_code != 200:
            raise ComfyError(f"ComfyUI at {self.url}: POST /prompt answered "
                             f"{resp.status_code} {resp.text[:300]!r}")
        reply = PromptReply.model_validate(resp.json())
        if reply.node_errors:
            dropped = {o for e in reply.node_errors.values() for o in e.dependent_outputs}
            if required_outputs is None or dropped & required_outputs:
                self.cancel(prompt_id)
                raise ComfyValidationError(self.url, workflow,
                                           _node_problems(reply.node_errors, graph))
        return reply

    def _refusal(self, resp: requests.Response, graph: dict, workflow: str) -> ComfyError:
        try:
            refusal = PromptRefusal.model_validate(resp.json())
        except ValueError:
            return ComfyError(f"ComfyUI at {self.url} refused workflow {workflow}: "
                              f"{resp.text[:300]!r}")
        problems = _node_problems(refusal.node_errors, graph)
        err = refusal.error
        if not problems and not isinstance(err, str):
            info = err.extra_info or {}
            node_id = info.get("node_id")
            title = info.get("node_title") or _title(graph, node_id)
            cls = info.get("class_type") or _class(graph, node_id)
            hint = (" (the custom node pack is not installed; run `vidpipe comfy check`)"
                    if err.type == "missing_node_type" else "")
            problems = [NodeProblem(node_id, cls, title, info.get("input_name"), err.type,
                                    err.message + hint, err.details)]
        summary = err if isinstance(err, str) else f"{err.type}: {err.message}"
        return ComfyValidationError(self.url, workflow, problems, summary)

    def _open_ws(self, client_id: str):
        import websocket

        try:
            ws = websocket.create_connection(f"{self.ws_url}/ws?clientId={client_id}",
                                             timeout=self.request_timeout_s)
        except (OSError, websocket.WebSocketException) as exc:
            log.info("no websocket to %s (%s); will poll /history", self.url, exc)
            return None
        ws.settimeout(min(1.0, self.poll_s * 2))
        return ws

    def run(self, graph: dict, *, workflow: str, time_limit_s: float,
            on_progress: ProgressCallback | None = None,
            required_outputs: set[str] | None = None) -> PromptResult:
        """Queue `graph`, follow it to the end and return its outputs (not downloaded)."""
        import websocket

        started = time.monotonic()
        deadline = started + time_limit_s
        client_id = str(uuid.uuid4())
        prompt_id = str(uuid.uuid4())
        state = _RunState()

        def emit(event: str, node_id: str | None = None, **kw) -> None:
            if on_progress is not None:
                on_progress(ComfyProgress(self.url, workflow, prompt_id, event, node_id,
                                          _title(graph, node_id), _class(graph, node_id), **kw))

        ws = self._open_ws(client_id)
        reconnected = False
        try:
            self.submit(graph, client_id=client_id, prompt_id=prompt_id, workflow=workflow,
                        required_outputs=required_outputs)
            emit("queued")
            last_check = time.monotonic()
            while not state.finished:
                now = time.monotonic()
                if now > deadline:
                    self.cancel(prompt_id)
                    last = state.current
                    raise ComfyTimeout(self.url, workflow, time_limit_s,
                                       _label(graph, last) if last else None)
                if ws is None:
                    if state.watched == "websocket":
                        state.watched = "polling"
                        emit("polling", text="websocket lost; polling /history")
                    if self.history(prompt_id) is not None:
                        break
                    time.sleep(min(self.poll_s, max(0.0, deadline - now)))
                    continue
                try:
                    opcode, data = ws.recv_data()
                except (websocket.WebSocketTimeoutException, TimeoutError):
                    if time.monotonic() - last_check > self.quiet_poll_s:
                        # Silence for a while: make sure the end was not missed. (A real
                        # server goes quiet this way when another socket takes our
                        # clientId: it forgets the older socket without closing it.)
                        last_check = time.monotonic()
                        if self.history(prompt_id) is not None:
                            state.watched = "polling"
                            emit("polling", text="websocket went quiet; the end was found "
                                                 "in /history")
                            break
                    continue
                except (websocket.WebSocketException, OSError):
                    opcode, data = websocket.ABNF.OPCODE_CLOSE, b""
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    _close(ws)
                    ws = None
                    if not reconnected:
                        reconnected = True
                        ws = self._open_ws(client_id)
                        last_check = 0.0  # check history right away: the end may have passed
                    continue
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    self._binary(data, emit)
                    continue
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue
                try:
                    msg = WsMessage.model_validate(json.loads(data))
                except ValueError:
                    continue
                self._on_message(msg, prompt_id, state, emit)
        except BaseException:
            _close(ws)
            raise
        _close(ws)
        return self._finish(graph, workflow, prompt_id, state, started, emit)

    def _binary(self, data: bytes, emit) -> None:
        if len(data) < 8:
            return
        (kind,) = struct.unpack(">I", data[:4])
        if kind == _BINARY_TEXT:
            (n,) = struct.unpack(">I", data[4:8])
            node_id = data[8:8 + n].decode("utf-8", "replace")
            emit("text", node_id, text=data[8 + n:].decode("utf-8", "replace"))
        # 1 and 4 are sampler previews: nothing for us to show.

    def _on_message(self, msg: WsMessage, prompt_id: str, state: "_RunState", emit) -> None:
        d = msg.data
        if msg.type == "status" or d.get("prompt_id") not in (prompt_id, None):
            return
        if msg.type == "executing":
            if d.get("node") is None:
                if d.get("prompt_id") == prompt_id:
                    state.finished = True
                return
            state.current = str(d["node"])
            emit("executing", state.current)
        elif msg.type == "progress" and d.get("prompt_id") == prompt_id:
            emit("progress", str(d.get("node")), value=d.get("value"), max=d.get("max"))
        elif msg.type == "execution_cached" and d.get("prompt_id") == prompt_id:
            state.cached = [str(n) for n in d.get("nodes", [])]
            if state.cached:
                emit("cached", text=f"{len(state.cached)} nodes from cache")
        elif msg.type in ("execution_error", "execution_interrupted") \
                and d.get("prompt_id") == prompt_id:
            state.failure = (msg.type, d)

    def _finish(self, graph: dict, workflow: str, prompt_id: str, state: "_RunState",
                started: float, emit) -> PromptResult:
        entry = None
        for attempt in range(6):  # history is written before the finish signal; be lenient
            entry = self.history(prompt_id)
            if entry is not None:
                break
            time.sleep(0.05 * 2 ** attempt)
        if entry is None:
            if state.failure:
                raise self._failure(graph, workflow, *state.failure)
            raise ComfyError(f"ComfyUI at {self.url}: prompt {prompt_id} of {workflow} "
                             f"finished but has no history entry")
        if entry.status.status_str == "error" or not entry.status.completed:
            failure = state.failure
            if failure is None:
                for kind in ("execution_error", "execution_interrupted"):
                    payload = entry.status_event(kind)
                    if payload is not None:
                        failure = (kind, payload)
                        break
            if failure is None:
                failure = ("execution_error", {"exception_type": "unknown",
                                               "exception_message": "status " +
                                               (entry.status.status_str or "incomplete")})
            raise self._failure(graph, workflow, *failure)
        outputs = []
        for node_id, ui in entry.outputs.items():
            animated = bool(ui.get("animated")) and any(ui.get("animated") or [])
            for key, ref in file_refs(ui):
                outputs.append(OutputFile(node_id, _title(graph, node_id), key, ref,
                                          animated=animated or key == "gifs"))
        emit("done")
        return PromptResult(self.url, prompt_id, outputs, time.monotonic() - started,
                            cached_nodes=state.cached, watched=state.watched)

    def _failure(self, graph: dict, workflow: str, kind: str, d: dict) -> ComfyError:
        node_id = d.get("node_id")
        node_id = str(node_id) if node_id is not None else None
        cls = d.get("node_type") or _class(graph, node_id)
        if kind == "execution_interrupted":
            return ComfyInterrupted(self.url, workflow, node_id, cls, _title(graph, node_id))
        return ComfyExecutionError(self.url, workflow, node_id, cls, _title(graph, node_id),
                                   str(d.get("exception_type", "")),
                                   str(d.get("exception_message", "")),
                                   sorted((d.get("current_inputs") or {}).keys()))


@dataclass
class _RunState:
    finished: bool = False
    current: str | None = None
    cached: list[str] = field(default_factory=list)
    failure: tuple[str, dict] | None = None
    watched: str = "websocket"


def _close(ws) -> None:
    if ws is not None:
        try:
            ws.close(timeout=0.2)
        except Exception:  # closing a dead socket may raise anything; nothing to do
            pass


def _title(graph: dict, node_id: str | None) -> str | None:
    if node_id is None:
        return None
    return ((graph.get(str(node_id)) or {}).get("_meta") or {}).get("title")


def _class(graph: dict, node_id: str | None) -> str | None:
    if node_id is None:
        return None
    return (graph.get(str(node_id)) or {}).get("class_type")


def _label(graph: dict, node_id: str) -> str:
    title, cls = _title(graph, node_id), _class(graph, node_id)
    return f"node {node_id} '{title}' ({cls})" if title else f"node {node_id} ({cls})"


# What a validation crash usually means (checked live on v0.33.0: a link to a node id the
# graph lacks raises KeyError, a link to an output index the node lacks raises IndexError).
_CRASH_HINTS = {
    "KeyError": "one of its links names a node id that is not in the graph",
    "IndexError": "one of its links asks for an output index the linked node does not have",
}


def _node_problems(node_errors: dict, graph: dict) -> list[NodeProblem]:
    problems = []
    for node_id, entry in node_errors.items():
        for e in entry.errors:
            info = e.extra_info or {}
            input_name, message = info.get("input_name"), e.message
            if e.type in ("exception_during_inner_validation", "exception_during_validation"):
                # The server files an inner crash under the node whose own check raised,
                # but with the input name of the node downstream of it: that name is not
                # one of this node's inputs, so leave it out and say what went wrong.
                input_name = None
                kind = str(info.get("exception_type") or "")
                hint = _CRASH_HINTS.get(kind.rsplit(".", 1)[-1])
                message = (f"could not be validated ({kind or 'exception'}: {e.details})"
                           + (f": {hint}" if hint else ""))
            problems.append(NodeProblem(str(node_id), entry.class_type or _class(graph, node_id),
                                        _title(graph, node_id), input_name, e.type,
                                        message, e.details))
    return problems
