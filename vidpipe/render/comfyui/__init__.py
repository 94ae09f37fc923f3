"""The ComfyUI render backend: a client for ComfyUI's HTTP + websocket API, workflows filled
by node title, a preflight check, a pool of servers and the backend that runs every stage.

Public entry points:
    ComfyBackend(urls, choices=..., timeouts_s=..., on_progress=...)   backend.py
    ComfyUIResource (dagster ConfigurableResource)                       resource.py
    preflight(urls, stage_choices) -> PreflightReport; main_check(argv)  preflight.py
    StageChoices (the per-stage model choice)                            workflow.py
"""
