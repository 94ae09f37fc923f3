"""The orchestrator's loop for one segment: the rendered clip is attempt 1; it is measured
and reviewed, and a failing segment is rendered again with adjusted arguments (a new seed,
gentler gestures) up to the configured number of attempts. The best attempt becomes the
segment's take, which the final video joins.

Every attempt anchors on the original try-on image and scene (the same composite layers);
none is built from another attempt's frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from vidpipe.brain.loop import (LoopConfig, RenderOutcome, attempt_seed, plan_segment,
                                run_segment)
from vidpipe.brain.quality import QaBound
from vidpipe.brain.schemas import GenerationArgs, ReferenceImages
from vidpipe.brain.update import (attempt_recorder, record_planning, save_outcome,
                                  stored_scene_reading)
from vidpipe.cache import StageResult, produce
from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import copy_clip
from vidpipe.memory import MemoryStore
from vidpipe.plan import SegmentPlan
from vidpipe.project import Project
from vidpipe.qa.check import enough_silence, enough_speech
from vidpipe.qa.models import QABounds, SegmentQA
from vidpipe.render import steps
from vidpipe.render.base import RenderBackend, StageFacts
from vidpipe.seeds import derive_seed

# The metrics a re-render can change on each backend. On the embedded backend the scene
# and garment come from the same layers every attempt, so their scores cannot move and are
# reported by `vidpipe qa` instead of being retried.
RETRYABLE = {
    "embedded": ("lipsync_corr", "mouth_closed_silence", "av_offset_frames", "identity_distance"),
    "comfyui": ("lipsync_corr", "mouth_closed_silence", "av_offset_frames", "identity_distance",
                "garment_delta_e", "background_psnr"),
}


def loop_config(project: Project) -> LoopConfig:
    b = project.spec.qa
    bounds = {
        "lipsync_corr": QaBound(low=b.lipsync_corr_min),
        "mouth_closed_silence": QaBound(low=b.silent_closed_min),
        "av_offset_frames": QaBound(high=b.av_offset_max, absolute=True),
        "identity_distance": QaBound(high=b.identity_max),
        "garment_delta_e": QaBound(high=b.garment_delta_e_max),
        "background_psnr": QaBound(low=b.background_psnr_min),
    }
    wanted = RETRYABLE[project.spec.backend]
    bounds = {k: v for k, v in bounds.items()
              if k in wanted and (v.low is not None or v.high is not None)}
    return LoopConfig(max_attempts=project.spec.max_attempts, bounds=bounds)


REVIEW_FRAMES = 4  # frames of each attempt the planner reviews


def attempt_dir(project: Project, plan: SegmentPlan, attempt: int) -> Path:
    return project.render_path("segment_take", f"{plan.segment}.attempts/a{attempt}", "")


def scaled_features(features: FrameFeatures, gesture_intensity: float) -> FrameFeatures:
    """Gesture intensity 0.5 is the planner's neutral; it scales how far emphasis moves the
    body, inside the segment only: at its first and last frame the emphasis is the one its
    neighbours were rendered with (`continuity`)."""
    from vidpipe.render.continuity import blend_inside

    gain = float(np.clip(gesture_intensity / 0.5, 0.0, 2.0))
    emphasis = np.asarray(features.emphasis, np.float64)
    scaled = blend_inside(emphasis, np.clip(emphasis * gain, 0.0, 1.0), features.fps)
    return dataclasses.replace(features, emphasis=scaled.astype(np.float32))


def render_attempt(project: Project, plan: SegmentPlan, backend: RenderBackend,
                   args: GenerationArgs) -> Path:
    """Motion, lip-sync and upscale of one retry, into files of its own."""
    folder = attempt_dir(project, plan, args.attempt)
    folder.mkdir(parents=True, exist_ok=True)
    features = scaled_features(steps.segment_features(project, plan), args.gesture_intensity)
    motion, lips, up = folder / "motion.mp4", folder / "lipsync.mp4", folder / "take.mp4"
    backend.motion(steps.composite_still_path(plan), plan["composite"].path, features, motion,
                   seed=args.seed, join_seed=attempt_seed(project.spec.seed, plan.segment, 1))
    backend.lipsync(motion, features, lips, audio=steps.segment_audio_path(project, plan.segment),
                    seed=derive_seed(args.seed, "lipsync"))
    backend.upscale(lips, project.spec.output.size, up)
    return up


REFERENCES_VERSION = "1"  # bump when what read_references computes changes


def qa_references(project: Project, plan: SegmentPlan):
    """The QA readings of the person, garment and try-on photos (`measure.References`)."""
    from vidpipe.qa.measure import References

    return References.from_json(reference_readings(project, plan).path.read_text())


def reference_readings(project: Project, plan: SegmentPlan) -> StageResult:
    """The file of `qa_references`, made once per project and garment and kept on disk, so
    parallel segment workers do not each compute them (they need the pose model)."""
    from vidpipe.qa.measure import read_references
    from vidpipe.storage import stable_hash

    key = stable_hash("qa_references", REFERENCES_VERSION, project.spec.inputs.person,
                      plan.garment, plan["tryon_image"].key)
    path = project.render_path("segment_take", f"references/{key}", ".json")

    def make(tmp: Path) -> StageFacts:
        refs = read_references(project.path(project.spec.inputs.person),
                               project.path(plan.garment), plan["tryon_image"].path)
        tmp.write_text(refs.to_json())
        return StageFacts(info={})

    return produce(path, key, make)


def measure_clip(project: Project, plan: SegmentPlan, clip: Path, *, keep_frames: int = 0
                 ) -> tuple[dict[str, float], list[np.ndarray]]:
    """QA of one segment's clip on its own, under the loop's metric names, and
    `keep_frames` frames spread over the clip for the planner's review (taken from the
    same decoding pass). The garment is judged on the try-on image (the loop's
    garment_delta_e); its colour on the frames is left to `vidpipe qa`."""
    from vidpipe.qa.measure import SegmentInput, measure_project

    seg = SegmentInput(key=plan.segment, first_frame=0, n_frames=plan.n_frames,
                       planned_frames=plan.n_frames,
                       features=steps.segment_features(project, plan),
                       layers_path=plan["composite"].path)
    wanted = set(np.linspace(0, max(0, plan.n_frames - 1), keep_frames).round().astype(int)
                 .tolist()) if keep_frames else set()
    kept: dict[int, np.ndarray] = {}

    def keep(i: int, frame: np.ndarray) -> None:
        if i in wanted:
            kept[i] = frame

    qa = measure_project(clip, [seg], person_photo=project.path(project.spec.inputs.person),
                         garment_photo=project.path(plan.garment),
                         tryon_image=plan["tryon_image"].path,
                         audio_duration_s=plan.n_frames / project.spec.output.fps,
                         sample_every_s=2.0, references=qa_references(project, plan),
                         frame_hook=keep, garment_on_frames=False)
    return loop_scores(qa.segments[0], qa.garment_delta_e_tryon, project.spec.qa), \
        [kept[i] for i in sorted(kept)]


def loop_scores(s: SegmentQA, garment_delta_e_tryon: float | None, bounds: QABounds
                ) -> dict[str, float]:
    """A segment's QA under the loop's metric names, leaving out what `vidpipe qa` would not
    hold it to either (lip-sync without enough speech, the closed mouth without enough
    silence): a segment must not be rendered again over a score that means nothing."""
    speech, silence = enough_speech(s, bounds), enough_silence(s, bounds)
    names = {"lipsync_corr": s.lipsync_corr if speech else None,
             "mouth_closed_silence": s.silent_closed if silence else None,
             "av_offset_frames": s.av_offset if speech else None,
             "identity_distance": s.identity_mean,
             "garment_delta_e": garment_delta_e_tryon, "background_psnr": s.background_psnr}
    return {k: float(v) for k, v in names.items() if v is not None}


def take_step(project: Project, plan: SegmentPlan, backend: RenderBackend, planner
              ) -> StageResult:
    p = plan["segment_take"]
    config = loop_config(project)

    def make(tmp: Path) -> StageFacts:
        store = MemoryStore(project.memory_path)
        state = store.read()
        analysis = steps.load_analysis(project)
        span = analysis.segments[plan.index]
        scene = stored_scene_reading(state, plan.scene)
        if scene is None:
            from vidpipe.brain.loop import analyze_scene
            from vidpipe.brain.update import record_scene

            answer = analyze_scene(planner, state, plan.scene, steps.scene_info(project, plan.scene))
            state = store.update(lambda s: record_scene(s, plan.scene, answer))
            scene = answer.reply
        refs = ReferenceImages(identity=str(plan["tryon_image"].path), scene=plan.scene,
                               person=project.spec.inputs.person)
        transcript = (project.path(project.spec.inputs.transcript).read_text()
                      if project.spec.inputs.transcript else None)
        planning = plan_segment(planner, state, plan.segment, scene=scene, references=refs,
                                mean_energy=span.mean_energy, speech_ratio=span.speech_ratio,
                                transcript=transcript, config=config)
        state = store.update(lambda s: record_planning(s, planning))
        first_seed = attempt_seed(project.spec.seed, plan.segment, 1)

        def render(args: GenerationArgs) -> RenderOutcome:
            if args.attempt == 1 and args.seed == first_seed:
                clip = plan["upscaled_clip"].path  # what the stage assets rendered
            else:
                clip = render_attempt(project, plan, backend, args)
            qa, frames = measure_clip(project, plan, clip, keep_frames=REVIEW_FRAMES)
            return RenderOutcome(qa=qa, frames=frames, outputs={"take": str(clip)})

        def keep(best) -> None:
            copy_clip(best.outputs["take"], tmp)

        outcome = run_segment(planner, state, planning, render, config=config,
                              record=attempt_recorder(store, plan.segment), keep=keep)
        save_outcome(store, outcome)
        best = outcome.attempts[(outcome.best or 1) - 1]
        return StageFacts(info={"attempts": len(outcome.attempts), "best_attempt": outcome.best,
                                "passed": outcome.passed, "planner": planning.args.planner,
                                **{f"qa_{k}": round(v, 4) for k, v in best.qa.items()}})

    return produce(p.path, p.key, make)
