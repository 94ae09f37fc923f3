"""The finished video: every segment joined, with the speech as AAC."""


import dagster as dg

from vidpipe.assets.analysis import audio_analysis, memory_state
from vidpipe.assets.metadata import stage_metadata, timed
from vidpipe.assets.review import segment_take
from vidpipe.partitions import BY_PROJECT, project_partitions
from vidpipe.plan import CODE_VERSIONS
from vidpipe.render import steps
from vidpipe.resources.workspace import WorkspaceResource


@dg.asset(partitions_def=project_partitions, group_name="delivery",
          code_version=CODE_VERSIONS["final_video"],
          deps=[dg.AssetDep(segment_take, partition_mapping=BY_PROJECT), memory_state,
                audio_analysis])
def final_video(context: dg.AssetExecutionContext, workspace: WorkspaceResource):
    """H.264/AAC MP4 of the whole recording; its duration equals the audio's within a frame."""
    project = workspace.project(context.partition_key)
    result, work = timed(steps.final_step, project)
    return dg.MaterializeResult(metadata=stage_metadata(result, work_seconds=work))
