"""The segment's take: the orchestrator evaluates the rendered clip and retries it when it
fails, keeping the best attempt (analyze -> generate -> evaluate -> update)."""

import dagster as dg

from vidpipe.assets.analysis import memory_state
from vidpipe.assets.bookkeeping import tracked_stage
from vidpipe.assets.metadata import stage_metadata
from vidpipe.partitions import BY_PROJECT, segment_in_project, segment_index, split_key
from vidpipe.plan import CODE_VERSIONS, segment_plan
from vidpipe.render import steps
from vidpipe.render.takes import take_step
from vidpipe.resources.backends import BackendResource
from vidpipe.resources.gemini import GeminiResource
from vidpipe.resources.progress import Progress, StageEvent
from vidpipe.resources.workspace import WorkspaceResource


@dg.asset(partitions_def=segment_in_project, group_name="brain",
          code_version=CODE_VERSIONS["segment_take"], output_required=False,
          deps=["upscaled_clip", dg.AssetDep(memory_state, partition_mapping=BY_PROJECT)])
def segment_take(context: dg.AssetExecutionContext, workspace: WorkspaceResource,
                 backends: BackendResource, gemini: GeminiResource,
                 progress: dg.ResourceParam[Progress]):
    """The kept attempt of the segment after evaluation (QA and the planner's review) and up
    to max_attempts re-renders with adjusted arguments; what the final video joins."""
    project_name, segment = split_key(context.partition_key)
    project = workspace.project(project_name)
    analysis = steps.load_analysis(project)
    index = segment_index(segment)
    if index >= len(analysis.segments):
        context.log.info(f"{segment} is not a segment of {project_name}: nothing to do")
        progress(StageEvent(project_name, segment, "segment_take", "skipped"))
        return
    plan = segment_plan(project, analysis, index)
    backend = backends.get(project.spec.backend, project.spec.comfyui)
    planner = gemini.planner()
    with tracked_stage(context, project, segment, "segment_take", progress) as outcome:
        result = take_step(project, plan, backend, planner)
        outcome.update(seconds=result.seconds, path=result.path, cached=result.cached)
    if result.info.get("attempts", 1) > 1:
        context.log.warning(f"{segment}: {result.info['attempts']} attempts, kept "
                            f"{result.info.get('best_attempt')}")
    yield dg.MaterializeResult(metadata=stage_metadata(
        result, project=project_name, segment=segment, work_seconds=round(outcome["work_s"], 3),
        **gemini.describe()))
