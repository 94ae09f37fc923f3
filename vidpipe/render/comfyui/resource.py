"""ComfyUI as a Dagster resource: where the servers are, how long stages may take, which
workflow renders each stage. It hands out the backend, a preflight and plain clients."""

from __future__ import annotations

import dagster as dg

from vidpipe.render.comfyui.backend import ComfyBackend
from vidpipe.render.comfyui.client import ComfyClient, ProgressCallback
from vidpipe.render.comfyui.pool import ServerPool
from vidpipe.render.comfyui.preflight import PreflightReport, preflight
from vidpipe.render.comfyui.workflow import WORKFLOW_DIR, StageChoices


class ComfyUIResource(dg.ConfigurableResource):
    """One or more ComfyUI servers; `backend()` gives the RenderBackend over all of them."""

    urls: list[str] = ["http://127.0.0.1:8188"]
    timeouts_s: dict[str, float] = {}  # stage -> seconds (defaults: backend.DEFAULT_TIMEOUTS_S)
    choices: dict[str, str] = {}  # stage -> model, e.g. {"tryon": "catvton"}
    workflow_dir: str = str(WORKFLOW_DIR)
    down_for_s: float = 60.0  # how long a server that stopped answering stays out
    deflicker: bool = True

    def stage_choices(self, override: StageChoices | dict | None = None) -> StageChoices:
        if isinstance(override, StageChoices):
            return override
        return StageChoices.model_validate({**self.choices, **(override or {})})

    def pool(self) -> ServerPool:
        return ServerPool.shared(self.urls, down_for_s=self.down_for_s)

    def backend(self, choices: StageChoices | dict | None = None,
                on_progress: ProgressCallback | None = None) -> ComfyBackend:
        return ComfyBackend(self.urls, choices=self.stage_choices(choices),
                            timeouts_s=self.timeouts_s, workflow_dir=self.workflow_dir,
                            on_progress=on_progress, pool=self.pool(), deflicker=self.deflicker)

    def preflight(self, choices: StageChoices | dict | None = None) -> PreflightReport:
        return preflight(self.urls, self.stage_choices(choices), workflow_dir=self.workflow_dir)

    def client(self, url: str | None = None) -> ComfyClient:
        return ComfyClient(url or self.urls[0])
