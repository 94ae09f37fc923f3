"""The three jobs a render is made of: analyse a project, render a segment, deliver the video."""

from __future__ import annotations

import dagster as dg

from vidpipe.assets.analysis import audio_analysis, memory_state, scene_analysis
from vidpipe.assets.delivery import final_video
from vidpipe.assets.quality import video_qa
from vidpipe.assets.review import segment_take
from vidpipe.assets.segments import SEGMENT_KEYS
from vidpipe.partitions import project_partitions, segment_in_project

analyze_project = dg.define_asset_job(
    "analyze_project", selection=[audio_analysis, scene_analysis, memory_state],
    partitions_def=project_partitions,
    description="Cut the speech into segments, read the scenes and refresh the memory state.")
render_segment = dg.define_asset_job(
    "render_segment", selection=[*SEGMENT_KEYS, segment_take.key],
    partitions_def=segment_in_project,
    description="Every per-segment stage, from try-on to the evaluated take, for one segment.")
deliver_video = dg.define_asset_job(
    "deliver_video", selection=[final_video], partitions_def=project_partitions,
    description="Join the segments and mux the speech into the final MP4.")

measure_quality = dg.define_asset_job(
    "measure_quality", selection=[video_qa], partitions_def=project_partitions,
    description="Measure the final video (lip-sync, identity, scene, joins) and run its checks.")

JOBS = [analyze_project, render_segment, deliver_video, measure_quality]
