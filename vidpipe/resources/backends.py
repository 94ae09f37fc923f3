"""Render backends as a resource: the project chooses the backend, configuration says where."""

from __future__ import annotations

from typing import Callable

import dagster as dg

from vidpipe.render.base import RenderBackend


class NoComfyServer(dg.Failure):
    pass


class BackendResource(dg.ConfigurableResource):
    """Hands out the backend a project asks for (`embedded` needs no configuration).

    comfy_urls: ComfyUI servers that share the work (from VIDPIPE_COMFY_URLS or
    `vidpipe render --comfy-url`); comfy_timeouts_s: per-stage time limits.
    """

    comfy_urls: list[str] = []
    comfy_timeouts_s: dict[str, float] = {}

    def comfy(self):
        from vidpipe.render.comfyui.resource import ComfyUIResource

        if not self.comfy_urls:
            raise NoComfyServer("the project uses the comfyui backend but no server is "
                                "configured: pass --comfy-url URL or set VIDPIPE_COMFY_URLS",
                                allow_retries=False)
        return ComfyUIResource(urls=self.comfy_urls, timeouts_s=self.comfy_timeouts_s)

    def get(self, kind: str, choices: dict[str, str] | None = None,
            on_progress: Callable | None = None) -> RenderBackend:
        if kind == "embedded":
            from vidpipe.render.embedded.backend import EmbeddedBackend

            return EmbeddedBackend()
        if kind == "comfyui":
            return self.comfy().backend(choices or {}, on_progress=on_progress)
        raise dg.Failure(f"unknown render backend {kind!r}", allow_retries=False)
