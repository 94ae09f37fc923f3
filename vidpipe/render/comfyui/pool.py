"""Several ComfyUI servers sharing the work.

A job (upload inputs, run one workflow, download its outputs) goes to the healthy server
with the fewest jobs in flight from this process. When a server stops answering
(`ComfyUnavailable`), it is taken out for `down_for_s` and the whole job is retried on the
next server: uploads are per server, so the job starts over there. Other errors are the
stage's own failure and are raised as they are.

On the Dagster side each server's share is bounded by the `gpu` pool; size it to the number
of servers (`dagster instance concurrency set gpu <len(urls)>`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

from vidpipe.render.comfyui.client import ComfyClient
from vidpipe.render.comfyui.errors import ComfyUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class NoServerLeft(ComfyUnavailable):
    def __init__(self, tried: dict[str, str]):
        self.tried = tried
        lines = "; ".join(f"{u}: {why}" for u, why in tried.items()) or "no servers configured"
        Exception.__init__(self, f"no ComfyUI server could take the work ({lines}); start one "
                                 f"or pass another --comfy-url")
        self.url = ", ".join(tried)


class ServerPool:
    """Hands jobs to servers; a server that stops answering is taken out for a while."""

    _shared: dict[tuple[str, ...], "ServerPool"] = {}
    _shared_lock = threading.Lock()

    def __init__(self, urls: list[str], *, client_factory: Callable[[str], ComfyClient] = ComfyClient,
                 down_for_s: float = 60.0):
        if not urls:
            raise ValueError("a ComfyUI server pool needs at least one URL")
        self.urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self.clients = {u: client_factory(u) for u in self.urls}
        self.down_for_s = down_for_s
        self._down_until: dict[str, float] = {}
        self._in_flight = {u: 0 for u in self.urls}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, urls: list[str], **kw) -> "ServerPool":
        """One pool per list of URLs in this process, so a server taken out stays out for
        every stage and segment that runs here."""
        key = tuple(u.rstrip("/") for u in urls)
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(list(key), **kw)
            return cls._shared[key]

    def is_down(self, url: str) -> bool:
        return self._down_until.get(url, 0.0) > time.monotonic()

    def healthy(self) -> list[str]:
        return [u for u in self.urls if not self.is_down(u)]

    def take_out(self, url: str, why: str) -> None:
        with self._lock:
            self._down_until[url] = time.monotonic() + self.down_for_s
        log.warning("ComfyUI server %s taken out for %.0f s: %s", url, self.down_for_s, why)

    def _pick(self, exclude: set[str]) -> str | None:
        with self._lock:
            candidates = [u for u in self.urls if u not in exclude and not self.is_down(u)]
            if not candidates:
                return None
            url = min(candidates, key=lambda u: (self._in_flight[u], self.urls.index(u)))
            self._in_flight[url] += 1
            return url

    def run(self, job: Callable[[ComfyClient], T]) -> T:
        """Run `job(client)` on one server, moving to the next while servers fail."""
        tried: dict[str, str] = {}
        while True:
            url = self._pick(set(tried))
            if url is None:
                raise NoServerLeft(tried or {u: "taken out earlier" for u in self.urls})
            try:
                return job(self.clients[url])
            except ComfyUnavailable as exc:
                if isinstance(exc, NoServerLeft):
                    raise
                tried[url] = str(exc)
                self.take_out(url, str(exc))
            finally:
                with self._lock:
                    self._in_flight[url] -= 1
