"""Render backends as a resource: the project chooses the backend, configuration says where."""

from __future__ import annotations

import dagster as dg

from vidpipe.render.base import RenderBackend


class BackendResource(dg.ConfigurableResource):
    """Hands out the backend a project asks for (`embedded` needs no configuration)."""

    comfy_urls: list[str] = []

    def get(self, kind: str) -> RenderBackend:
        if kind == "embedded":
            from vidpipe.render.embedded.backend import EmbeddedBackend

            return EmbeddedBackend()
        if kind == "comfyui":
            raise dg.Failure(
                "the comfyui backend is not available yet in this version of vidpipe; "
                "set `backend: embedded` in project.yaml", allow_retries=False)
        raise dg.Failure(f"unknown render backend {kind!r}", allow_retries=False)
