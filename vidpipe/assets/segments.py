"""Per-segment assets, partitioned by project x segment.

Every asset is the same shape: resolve the segment's plan, run one plain step function
through `tracked_stage` (status in the memory state), return file metadata. Try-on, matte,
depth and composite are content-addressed, so segments sharing person, garment and scene
share one file while each partition still records its own materialization and lineage.
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


def _segment_asset(name: str, description: str, deps: list, group: str, pool: str | None = None):
    @dg.asset(name=name, description=description, partitions_def=segment_in_project,
              group_name=group, code_version=CODE_VERSIONS[name], deps=deps, pool=pool,
              output_required=False)
    def _asset(context: dg.AssetExecutionContext, workspace: WorkspaceResource,
               backends: BackendResource, progress: dg.ResourceParam[Progress]):
        project_name, segment = split_key(context.partition_key)
        project = workspace.project(project_name)
        analysis = steps.load_analysis(project)
        index = segment_index(segment)
        if index >= len(analysis.segments):
            # The segment dimension is shared by all projects; this one is shorter.
            context.log.info(f"{segment} is not a segment of {project_name} "
                             f"({len(analysis.segments)} segments): nothing to do")
            progress(StageEvent(project_name, segment, name, "skipped"))
            return
        plan = segment_plan(project, analysis, index)
        backend = backends.get(project.spec.backend, project.spec.comfyui,
                               on_progress=_comfy_progress(context)
                               if project.spec.backend == "comfyui" else None)
        with tracked_stage(context, project, segment, name, progress) as outcome:
            result = steps.SEGMENT_STEPS[name](project, plan, backend)
            outcome.update(seconds=result.seconds, path=result.path, cached=result.cached)
        if result.fell_back:
            context.log.warning(f"{name} fell back: {result.fell_back}")
        yield dg.MaterializeResult(metadata=stage_metadata(
            result, project=project_name, segment=segment, scene=plan.scene,
            garment=plan.garment, frames_planned=plan.n_frames))

    return _asset


def segment_assets(pool: str | None = GPU_POOL) -> list[dg.AssetsDefinition]:
    """The seven stage assets. Try-on, motion, lip-sync and upscale hold a slot of `pool`,
    which bounds how many run at once across runs (a GPU server runs one prompt at a time).
    The embedded backend renders on the CPU, where `--jobs` already bounds the work, so its
    CLI renders build these with no pool."""
    tryon_image = _segment_asset(
        "tryon_image", "The person wearing the garment: the identity and clothing anchor of "
        "every frame.", [_by_project(memory_state)], "prep", pool)
    person_matte = _segment_asset(
        "person_matte", "The dressed person cut out of their photo with a soft alpha edge.",
        [tryon_image], "prep")
    depth_map = _segment_asset(
        "depth_map", "A depth estimate of the segment's scene, used to stand the person on "
        "its ground.", [_by_project(memory_state)], "prep")
    composite = _segment_asset(
        "composite", "The person placed, scaled and relit in the scene, with a contact "
        "shadow.", [person_matte, depth_map, _by_project(scene_analysis)], "prep")
    motion_clip = _segment_asset(
        "motion_clip", "The composite animated by the speech: head and shoulders follow "
        "emphasis and rest in pauses.", [composite, _by_project(audio_analysis)], "animation",
        pool)
    lipsync_clip = _segment_asset(
        "lipsync_clip", "The motion clip with the mouth opening and closing with the speech.",
        [motion_clip, _by_project(audio_analysis)], "animation", pool)
    upscaled_clip = _segment_asset(
        "upscaled_clip", "The segment at output resolution, deflickered; what the final "
        "video joins.", [lipsync_clip], "animation", pool)
    return [tryon_image, person_matte, depth_map, composite, motion_clip, lipsync_clip,
            upscaled_clip]


SEGMENT_ASSETS = segment_assets()
(tryon_image, person_matte, depth_map, composite, motion_clip, lipsync_clip,
 upscaled_clip) = SEGMENT_ASSETS
