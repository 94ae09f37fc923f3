"""What each stage of a project would write, and under which cache key.

Keys chain: a stage's key hashes its inputs' keys, its parameters, its seed and its
code_version, so the plan tells, without running anything, which outputs are up to date.
Try-on, matte, depth and composite are keyed by content only (not by segment), so segments
that share person, garment and scene share those files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidpipe.cache import is_current
from vidpipe.partitions import segment_key
from vidpipe.project import Project
from vidpipe.seeds import derive_seed
from vidpipe.storage import stable_hash

# Bump a stage's version when its output for the same inputs changes.
CODE_VERSIONS: dict[str, str] = {
    "audio_analysis": "4",
    "scene_analysis": "1",
    "memory_state": "1",
    "tryon_image": "1",
    "person_matte": "1",
    "depth_map": "1",
    "composite": "1",
    "motion_clip": "2",
    "lipsync_clip": "4",  # 3: lips apart in the photo open further (SMILE_OPEN); 4: and
                          # close while speaking (p/b/m), keeping their gap in silence
    "upscaled_clip": "2",
    "segment_take": "3",  # 2: a retry meets its neighbours at the joins; 3: no retry over
                          # a score without enough speech or silence (qa.check)
    "final_video": "1",
    "video_qa": "2",
}

SEGMENT_STAGES = ["tryon_image", "person_matte", "depth_map", "composite", "motion_clip",
                  "lipsync_clip", "upscaled_clip", "segment_take"]


def _key(stage: str, *parts: object) -> str:
    return stable_hash(stage, CODE_VERSIONS[stage], *parts)


def audio_key(project: Project) -> str:
    spec = project.spec
    return _key("audio_analysis", spec.inputs.audio, spec.inputs.transcript,
                spec.segmentation.model_dump(), spec.output.fps, spec.change_times,
                spec.language)


def scene_key(scene_rel: str) -> str:
    return _key("scene_analysis", scene_rel)


@dataclass(frozen=True)
class StagePlan:
    stage: str
    key: str
    path: Path


@dataclass(frozen=True)
class SegmentPlan:
    project: str
    segment: str
    index: int
    start_sample: int
    end_sample: int
    first_frame: int
    n_frames: int
    scene: str
    garment: str
    stages: dict[str, StagePlan]

    def __getitem__(self, stage: str) -> StagePlan:
        return self.stages[stage]

    def up_to_date(self) -> bool:
        return all(is_current(p.path, p.key) for p in self.stages.values())


STILL_STAGES = ("tryon_image", "person_matte", "depth_map", "composite")


def _still_stages(project: Project, scene: str, garment: str) -> dict[str, StagePlan]:
    """The stills of one look: keyed by the photos, seeds and sizes, not by the audio, so
    every segment with that (scene, garment) shares them."""
    spec = project.spec
    backend = (spec.backend, spec.comfyui) if spec.backend == "comfyui" else spec.backend
    k: dict[str, str] = {}
    k["tryon_image"] = _key("tryon_image", spec.inputs.person, garment,
                            derive_seed(spec.seed, "tryon_image"), backend)
    k["person_matte"] = _key("person_matte", k["tryon_image"])
    k["depth_map"] = _key("depth_map", scene, backend)
    k["composite"] = _key("composite", k["person_matte"], k["depth_map"], scene_key(scene),
                          spec.output.working_size, derive_seed(spec.seed, "composite"))
    ext = {"tryon_image": ".png", "person_matte": ".png", "depth_map": ".png",
           "composite": ".npz"}
    return {stage: StagePlan(stage, k[stage], project.render_path(stage, k[stage], ext[stage]))
            for stage in STILL_STAGES}


def look_plan(project: Project, scene: str, garment: str) -> SegmentPlan:
    """A plan holding only the stills of one look (no segment, no frames), for making them
    before the audio is analysed."""
    return SegmentPlan(project=project.name, segment="", index=-1, start_sample=0,
                       end_sample=0, first_frame=0, n_frames=0, scene=scene, garment=garment,
                       stages=_still_stages(project, scene, garment))


def segment_plan(project: Project, analysis, index: int) -> SegmentPlan:
    """`analysis` is the project's AudioAnalysis (vidpipe.media.audio)."""
    spec = project.spec
    span = analysis.segments[index]
    seg = segment_key(index)
    # A forced cut at a scene change moves into the nearest pause, possibly just before the
    # change time; the span remembers which change its start stands for.
    change_at = getattr(span, "change_at_s", None)
    scene, garment = spec.look_at(change_at if change_at is not None else span.start_s)
    stages = _still_stages(project, scene, garment)

    k: dict[str, str] = {}
    k["motion_clip"] = _key("motion_clip", stages["composite"].key, audio_key(project),
                            span.start_sample, span.end_sample, spec.output.fps,
                            derive_seed(spec.seed, "motion"))
    k["lipsync_clip"] = _key("lipsync_clip", k["motion_clip"], spec.inputs.transcript)
    k["upscaled_clip"] = _key("upscaled_clip", k["lipsync_clip"], spec.output.size)
    k["segment_take"] = _key("segment_take", k["upscaled_clip"], spec.qa.model_dump(),
                             spec.max_attempts)
    for stage, key in k.items():
        stages[stage] = StagePlan(stage, key, project.render_path(stage, seg, ".mp4"))
    return SegmentPlan(project=project.name, segment=seg, index=index,
                       start_sample=span.start_sample, end_sample=span.end_sample,
                       first_frame=span.first_frame, n_frames=span.n_frames,
                       scene=scene, garment=garment, stages=stages)


def delivery_audio_key(project: Project) -> str:
    """The speech encoded once for every delivery of the same audio analysis."""
    from vidpipe.media.video import AAC_BITRATE

    return _key("final_video", "speech", audio_key(project), AAC_BITRATE)


def final_key(project: Project, plans: list[SegmentPlan]) -> str:
    return _key("final_video", audio_key(project), [p["segment_take"].key for p in plans])
