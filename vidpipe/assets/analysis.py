"""Project-level analysis assets: the audio's segment table, the scenes' light, the memory."""


import json
import time

import dagster as dg

from vidpipe.assets.bookkeeping import observe_memory
from vidpipe.assets.metadata import stage_metadata, timed
from vidpipe.brain.loop import analyze_scene
from vidpipe.brain.state import build_state
from vidpipe.brain.update import record_scene, stored_scene_reading
from vidpipe.memory import MemoryStore
from vidpipe.partitions import project_partitions, segment_key
from vidpipe.plan import CODE_VERSIONS
from vidpipe.render import steps
from vidpipe.resources.gemini import GeminiResource
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.storage import thumbnail_markdown


@dg.asset(partitions_def=project_partitions, group_name="analysis",
          code_version=CODE_VERSIONS["audio_analysis"])
def audio_analysis(context: dg.AssetExecutionContext, workspace: WorkspaceResource):
    """Speech decoded, voice activity found and cut into 3-8 s segments at pauses; registers
    one segment partition per segment."""
    project = workspace.project(context.partition_key)
    result, work = timed(steps.analyze_audio_step, project)
    analysis = steps.load_analysis(project)
    keys = [segment_key(s.index) for s in analysis.segments]
    context.instance.add_dynamic_partitions("segment", keys)
    table = "| segment | start | end | frames | speech |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {segment_key(s.index)} | {s.start_s:.2f} | {s.end_s:.2f} | {s.n_frames} | "
        f"{s.speech_ratio:.0%} |" for s in analysis.segments)
    return dg.MaterializeResult(metadata=stage_metadata(
        result, segments=len(keys), duration_s=round(analysis.duration_s, 3), work_seconds=work,
        segment_table=dg.MetadataValue.md(table)))


@dg.asset(partitions_def=project_partitions, group_name="analysis",
          code_version=CODE_VERSIONS["scene_analysis"])
def scene_analysis(context: dg.AssetExecutionContext, workspace: WorkspaceResource):
    """Light direction and colour, mood and camera framing of every scene the project uses
    (offline analyzer)."""
    project = workspace.project(context.partition_key)
    results, work = timed(steps.analyze_scenes_step, project)
    first = next(iter(results.values()))
    meta = stage_metadata(first, scenes=len(results), work_seconds=work)
    meta["analysis"] = dg.MetadataValue.json(
        {rel: json.loads(r.path.read_text()) for rel, r in results.items()})
    return dg.MaterializeResult(metadata=meta)


@dg.asset(partitions_def=project_partitions, group_name="analysis",
          code_version=CODE_VERSIONS["memory_state"], deps=[audio_analysis, scene_analysis])
def memory_state(context: dg.AssetExecutionContext, workspace: WorkspaceResource,
                 gemini: GeminiResource):
    """The orchestrator's JSON memory: character, environment and the segment timeline with
    each segment's status."""
    started = time.perf_counter()
    project = workspace.project(context.partition_key)
    analysis = steps.load_analysis(project)
    scenes = {rel: steps.scene_info(project, rel) for rel in steps.scene_paths(project)}
    plans = steps.plans(project)
    store = MemoryStore(project.memory_path)
    previous = store.read() if store.exists() else None
    wavs = [str(steps.segment_audio_path(project, p.segment).relative_to(project.folder))
            for p in plans]
    state = store.write(build_state(project, analysis, scenes, plans, previous, wavs))
    # Analyze: the planner reads each scene once (light sources, mood, compositing prompts).
    planner = gemini.planner()
    calls = []
    for rel, analysis_dict in scenes.items():
        if stored_scene_reading(state, rel) is None:
            answer = analyze_scene(planner, state, rel, analysis_dict)
            state = store.update(lambda s, rel=rel, answer=answer: record_scene(s, rel, answer))
            calls.append(answer.metadata())
            if answer.fell_back:
                context.log.warning(f"scene reading of {rel} fell back: {answer.warning}")
    observe_memory(context, project.name, state, "refreshed from analyses")
    from vidpipe.media.images import load_image

    preview = thumbnail_markdown(load_image(project.path(project.spec.inputs.person)), "person")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(project.memory_path)),
        "state": dg.MetadataValue.json(state.model_dump(mode="json")),
        **{f"segments_{k}": v for k, v in state.counts().items()},
        **gemini.describe(),
        "planner_calls": dg.MetadataValue.json(calls),
        "preview": dg.MetadataValue.md(preview),
        # the brain's work, as the stages record theirs (see metadata.timed)
        "work_seconds": round(time.perf_counter() - started, 3),
    })
