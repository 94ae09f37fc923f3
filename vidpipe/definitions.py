"""The one Definitions object: assets, jobs, sensors, schedule and resources.

Resources and the executor are chosen here from the environment, nowhere else:
VIDPIPE_WORKSPACE (default: the nearest folder holding workspace.yaml), VIDPIPE_COMFY_URLS
(comma-separated, for the comfyui backend), VIDPIPE_EXECUTOR (`in_process`, the default:
a segment's stages run in sequence anyway and parallelism comes from concurrent runs; or
`multiprocess`) and VIDPIPE_GPU_POOL (the pool the GPU stages hold, default `gpu`; empty
for none, on a deployment that only renders on the embedded backend). Instance storage, run
concurrency and pool limits live in dagster.yaml.
"""

from __future__ import annotations

import os

import dagster as dg

from vidpipe.assets.analysis import audio_analysis, memory_state, scene_analysis
from vidpipe.assets.delivery import final_video
from vidpipe.assets.quality import video_qa
from vidpipe.assets.review import segment_take
from vidpipe.assets.segments import GPU_POOL, SEGMENT_ASSETS, segment_assets
from vidpipe.jobs import JOBS
from vidpipe.resources.backends import BackendResource
from vidpipe.resources.gemini import GeminiResource, gemini_resource
from vidpipe.resources.progress import Progress
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.sensors.batch import batch_render_schedule, render_dispatch_sensor
from vidpipe.sensors.inbox import inbox_sensor
from vidpipe.workspace import find_workspace



def all_assets(gpu_pool: str | None = GPU_POOL) -> list:
    stages = SEGMENT_ASSETS if gpu_pool == GPU_POOL else segment_assets(gpu_pool)
    return [audio_analysis, scene_analysis, memory_state, *stages, segment_take, final_video,
            video_qa]


ALL_ASSETS = all_assets()


EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def default_backends() -> BackendResource:
    urls = [u.strip() for u in os.environ.get("VIDPIPE_COMFY_URLS", "").split(",") if u.strip()]
    return BackendResource(comfy_urls=urls)


def build_defs(workspace_root: str | None = None, backends: BackendResource | None = None,
               progress: Progress | None = None, gemini: GeminiResource | None = None,
               gpu_pool: str | None = GPU_POOL) -> dg.Definitions:
    root = workspace_root or str(find_workspace())
    executor = os.environ.get("VIDPIPE_EXECUTOR", "in_process")
    if executor not in EXECUTORS:
        raise ValueError(f"VIDPIPE_EXECUTOR={executor!r}: choose one of {sorted(EXECUTORS)}")
    return dg.Definitions(
        assets=all_assets(gpu_pool),
        executor=EXECUTORS[executor],
        jobs=JOBS,
        sensors=[inbox_sensor, render_dispatch_sensor],
        schedules=[batch_render_schedule],
        resources={
            "workspace": WorkspaceResource(root=root),
            "backends": backends or default_backends(),
            "progress": progress or Progress(),
            # Gemini when GEMINI_API_KEY or GOOGLE_API_KEY is set, else the offline planner.
            "gemini": gemini or gemini_resource(),
        },
    )


defs = build_defs(gpu_pool=os.environ.get("VIDPIPE_GPU_POOL", GPU_POOL) or None)
