"""Per-segment assets, partitioned by project x segment.

Every stage asset is the same shape: resolve the segment's plan, run one plain step
function through `tracked_stage` (status in the memory state), return file metadata. The
stills and the animation stages are each computed in one step (a multi-asset). Try-on,
matte, depth and composite are content-addressed, so segments sharing person, garment and
scene share one file while each partition still records its own materialization and
lineage.
"""


import dagster as dg

from vidpipe.assets.analysis import audio_analysis, memory_state, scene_analysis
from vidpipe.assets.bookkeeping import tracked_stage
from vidpipe.assets.metadata import stage_metadata
from vidpipe.partitions import BY_PROJECT, segment_in_project, segment_index, split_key
from vidpipe.plan import CODE_VERSIONS, segment_plan
from vidpipe.render import steps
from vidpipe.resources.backends import BackendResource
from vidpipe.resources.progress import Progress, StageEvent
from vidpipe.resources.workspace import WorkspaceResource

GPU_POOL = "gpu"


def _comfy_progress(context: dg.AssetExecutionContext):
    from vidpipe.render.comfyui.backend import progress_logger

    return progress_logger(context.log)


def _by_project(asset) -> dg.AssetDep:
    return dg.AssetDep(asset, partition_mapping=BY_PROJECT)


STILLS = [
    ("tryon_image", "The person wearing the garment: the identity and clothing anchor of every "
     "frame."),
    ("person_matte", "The dressed person cut out of their photo with a soft alpha edge."),
    ("depth_map", "A depth estimate of the segment's scene, used to stand the person on its "
     "ground."),
    ("composite", "The person placed, scaled and relit in the scene, with a contact shadow."),
]
ANIMATION = [
    ("motion_clip", "The composite animated by the speech: head and shoulders follow emphasis "
     "and rest in pauses."),
    ("lipsync_clip", "The motion clip with the mouth opening and closing with the speech."),
    ("upscaled_clip", "The segment at output resolution, deflickered; what the final video "
     "joins."),
]
STAGE_DEPS = {
    "tryon_image": [_by_project(memory_state)],
    "person_matte": ["tryon_image"],
    "depth_map": [_by_project(memory_state)],
    "composite": ["person_matte", "depth_map", _by_project(scene_analysis)],
    "motion_clip": ["composite", _by_project(audio_analysis)],
    "lipsync_clip": ["motion_clip", _by_project(audio_analysis)],
    "upscaled_clip": ["lipsync_clip"],
}


def _stage_group(name: str, stages: list[tuple[str, str]], group: str, pool: str | None,
                 description: str) -> dg.AssetsDefinition:
    """Several stage assets computed in one step, each still its own asset with its own
    materialization, metadata, code_version and lineage. One step instead of one per stage
    saves Dagster's per-step cost (measured ~0.3 s a step on SQLite, whatever the stage
    does); `can_subset` keeps materializing a single stage possible."""
    specs = [dg.AssetSpec(stage, description=text, group_name=group, skippable=True,
                          code_version=CODE_VERSIONS[stage], deps=STAGE_DEPS[stage],
                          partitions_def=segment_in_project)
             for stage, text in stages]

    @dg.multi_asset(name=name, specs=specs, can_subset=True, pool=pool,
                    partitions_def=segment_in_project, description=description)
    def _stages(context: dg.AssetExecutionContext, workspace: WorkspaceResource,
                backends: BackendResource, progress: dg.ResourceParam[Progress]):
        project_name, segment = split_key(context.partition_key)
        project = workspace.project(project_name)
        analysis = steps.load_analysis(project)
        index = segment_index(segment)
        selected = [stage for stage, _ in stages
                    if dg.AssetKey(stage) in context.selected_asset_keys]
        if index >= len(analysis.segments):
            # The segment dimension is shared by all projects; this one is shorter.
            context.log.info(f"{segment} is not a segment of {project_name} "
                             f"({len(analysis.segments)} segments): nothing to do")
            for stage in selected:
                progress(StageEvent(project_name, segment, stage, "skipped"))
            return
        plan = segment_plan(project, analysis, index)
        backend = backends.get(project.spec.backend, project.spec.comfyui,
                               on_progress=_comfy_progress(context)
                               if project.spec.backend == "comfyui" else None)
        for stage in selected:
            with tracked_stage(context, project, segment, stage, progress) as outcome:
                result = steps.SEGMENT_STEPS[stage](project, plan, backend)
                outcome.update(seconds=result.seconds, path=result.path, cached=result.cached)
            if result.fell_back:
                context.log.warning(f"{stage} fell back: {result.fell_back}")
            yield dg.MaterializeResult(asset_key=stage, metadata=stage_metadata(
                result, project=project_name, segment=segment, scene=plan.scene,
                garment=plan.garment, frames_planned=plan.n_frames,
                work_seconds=round(outcome["work_s"], 3)))

    return _stages


def segment_assets(pool: str | None = GPU_POOL) -> list[dg.AssetsDefinition]:
    """The seven stage assets, in two steps: the stills and the animation. Both hold a slot
    of `pool`, which bounds how many run at once across runs (a GPU server runs one prompt
    at a time; try-on, matte, depth, composite, motion, lip-sync and upscale are all GPU
    work on ComfyUI). The embedded backend renders on the CPU, where `--jobs` already
    bounds the work, so its CLI renders build these with no pool."""
    return [
        _stage_group("stills", STILLS, "prep", pool, "Try-on, matte, depth and composite of "
                     "the segment's look (shared by segments with the same look)."),
        _stage_group("animation", ANIMATION, "animation", pool, "Motion, lip-sync and "
                     "upscale of the segment."),
    ]


SEGMENT_ASSETS = segment_assets()
SEGMENT_KEYS = [dg.AssetKey(stage) for stage, _ in STILLS + ANIMATION]
