"""The work of every stage as plain functions of (project, plan, backend).

Assets call these and only add Dagster bookkeeping; tests call them directly. Each function
returns a `StageResult` and reuses a cached output when its key is unchanged.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidpipe.cache import StageResult, produce
from vidpipe.errors import StageError
from vidpipe.media.features import FrameFeatures
from vidpipe.media.phonemes import apply_visemes, viseme_caps, viseme_rounding
from vidpipe.plan import (SegmentPlan, audio_key, delivery_audio_key, final_key, scene_key,
                          segment_plan)
from vidpipe.project import Project
from vidpipe.render.base import RenderBackend, StageFacts
from vidpipe.seeds import derive_seed

ANALYSIS_RATE = 16000   # VAD and features
DELIVERY_RATE = 48000   # the audio muxed into the final video


def analysis_path(project: Project) -> Path:
    return project.render_path("audio_analysis", "analysis", ".json")


def phones_path(project: Project) -> Path:
    return project.render_path("audio_analysis", "phones", ".json")


def analysis_audio_path(project: Project) -> Path:
    return project.render_path("audio_analysis", "speech16k", ".wav")


def delivery_audio_path(project: Project) -> Path:
    return project.render_path("audio_analysis", "speech48k", ".wav")


def segment_audio_path(project: Project, segment: str) -> Path:
    return project.render_path("audio_analysis", f"segments/{segment}", ".wav")


def analyze_audio_step(project: Project) -> StageResult:
    """Decode, detect speech, cut into segments at pauses; write the table and the wavs."""
    from vidpipe.media import audio

    spec = project.spec
    key = audio_key(project)
    source = project.path(spec.inputs.audio)

    def make(tmp: Path) -> StageFacts:
        seg = spec.segmentation
        result = audio.analyze_audio(source, fps=spec.output.fps, sample_rate=ANALYSIS_RATE,
                                     min_s=seg.min_s, max_s=seg.max_s, target_s=seg.target_s,
                                     forced_cuts_s=tuple(spec.change_times))
        samples = audio.decode_audio(source, sample_rate=ANALYSIS_RATE)
        audio.write_pcm_wav(samples, ANALYSIS_RATE, _fresh(analysis_audio_path(project)))
        audio.write_pcm_wav(audio.decode_audio(source, sample_rate=DELIVERY_RATE), DELIVERY_RATE,
                            _fresh(delivery_audio_path(project)))
        for span in result.segments:
            out = _fresh(segment_audio_path(project, f"s{span.index:04d}"))
            audio.write_wav_slice(samples, ANALYSIS_RATE, span.start_sample, span.end_sample, out)
        from vidpipe.media.phonemes import align_phones

        transcript = (project.path(spec.inputs.transcript).read_text(encoding="utf-8")
                      if spec.inputs.transcript else None)
        phones = align_phones(samples, transcript, language=spec.language)
        _fresh(phones_path(project)).write_text(phones.model_dump_json(indent=1))
        tmp.write_text(result.model_dump_json(indent=2))
        fell_back = phones.note or None
        return StageFacts(info={"segments": len(result.segments),
                                "duration_s": result.duration_s, "phones": len(phones.phones),
                                "phones_from": phones.source}, fell_back=fell_back)

    return produce(analysis_path(project), key, make)


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def load_analysis(project: Project):
    from vidpipe.media.audio import AudioAnalysis

    path = analysis_path(project)
    if not path.is_file():
        raise StageError(f"{project.name}: audio_analysis has not run yet ({path} is missing)")
    return AudioAnalysis.model_validate_json(path.read_text())


def plans(project: Project) -> list[SegmentPlan]:
    analysis = load_analysis(project)
    return [segment_plan(project, analysis, i) for i in range(len(analysis.segments))]


def scene_paths(project: Project) -> list[str]:
    spec = project.spec
    return list(dict.fromkeys([spec.inputs.scene] + [c.scene for c in spec.timeline if c.scene]))


def scene_analysis_path(project: Project, scene_rel: str) -> Path:
    return project.render_path("scene_analysis", Path(scene_rel).stem, ".json")


def analyze_scenes_step(project: Project) -> dict[str, StageResult]:
    """Light, colour, mood and framing of every scene the project uses."""
    from vidpipe.analysis.scene import analyze_scene
    from vidpipe.media.images import load_image

    results = {}
    for rel in scene_paths(project):
        def make(tmp: Path, rel: str = rel) -> StageFacts:
            analysis = analyze_scene(load_image(project.path(rel)))
            tmp.write_text(analysis.model_dump_json(indent=2))
            return StageFacts(info=json.loads(analysis.model_dump_json()))

        results[rel] = produce(scene_analysis_path(project, rel), scene_key(rel), make)
    return results


def scene_info(project: Project, scene_rel: str) -> dict:
    path = scene_analysis_path(project, scene_rel)
    if not path.is_file():
        raise StageError(f"{project.name}: scene_analysis has not run for {scene_rel}")
    return json.loads(path.read_text())


# --- per-segment stages -------------------------------------------------------------------

def tryon_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["tryon_image"]
    seed = derive_seed(project.spec.seed, "tryon_image")
    return produce(p.path, p.key, lambda tmp: backend.tryon(
        project.path(project.spec.inputs.person), project.path(plan.garment), tmp, seed=seed))


def matte_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["person_matte"]
    return produce(p.path, p.key, lambda tmp: backend.matte(plan["tryon_image"].path, tmp))


def depth_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["depth_map"]
    return produce(p.path, p.key, lambda tmp: backend.depth(project.path(plan.scene), tmp))


def composite_still_path(plan: SegmentPlan) -> Path:
    return plan["composite"].path.with_suffix(".png")


def composite_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["composite"]
    seed = derive_seed(project.spec.seed, "composite")

    def make(tmp: Path) -> StageFacts:
        still = composite_still_path(plan)
        from vidpipe.storage import atomic_path

        with atomic_path(still) as tmp_still:
            facts = backend.composite(plan["person_matte"].path, project.path(plan.scene),
                                      plan["depth_map"].path, scene_info(project, plan.scene),
                                      project.spec.output.working_size, tmp_still, tmp, seed=seed)
        return facts

    return produce(p.path, p.key, make)


@lru_cache(maxsize=4)
def _analysis_samples(path: str, mtime: float) -> np.ndarray:
    import soundfile as sf

    data, _ = sf.read(path, dtype="float32", always_2d=False)
    return data


def segment_features(project: Project, plan: SegmentPlan) -> FrameFeatures:
    """The segment's per-frame features. Motion, lip-sync and the take's QA all need them;
    they are computed once per process (the voice activity pass is most of the cost) and
    each caller gets its own copy of the arrays."""
    loudness_ref = load_analysis(project).loudness_ref
    wav, phones = analysis_audio_path(project), phones_path(project)
    feats = _segment_features(str(wav), wav.stat().st_mtime_ns, str(phones), _mtime_ns(phones),
                              loudness_ref, project.spec.output.fps, plan.start_sample,
                              plan.end_sample)
    if feats.n_frames != plan.n_frames:
        raise StageError(f"{plan.segment}: features have {feats.n_frames} frames, "
                         f"the plan {plan.n_frames}")
    return feats.copy()


@lru_cache(maxsize=8)
def _segment_features(wav: str, wav_mtime: int, phones_file: str, phones_mtime: int,
                      loudness_ref: float, fps: int, start_sample: int, end_sample: int
                      ) -> FrameFeatures:
    from vidpipe.media.audio import frame_features

    samples = _analysis_samples(wav, wav_mtime)
    feats = frame_features(samples, ANALYSIS_RATE, fps, start_sample, end_sample,
                           loudness_ref=loudness_ref)
    phones = _phones(phones_file, phones_mtime)
    feats.mouth_open = apply_visemes(feats.mouth_open, viseme_caps(
        phones, feats.fps, feats.first_frame, feats.n_frames))
    feats.rounding = viseme_rounding(phones, feats.fps, feats.first_frame, feats.n_frames)
    return feats


def _mtime_ns(path: Path) -> int:
    """The file's mtime as a cache key part; 0 when it does not exist."""
    return path.stat().st_mtime_ns if path.is_file() else 0


@lru_cache(maxsize=4)
def _phones(path: str, mtime_ns: int):
    from vidpipe.media.phonemes import PhoneAlignment

    if not mtime_ns:
        return PhoneAlignment(source="none", note="no phone alignment")
    return PhoneAlignment.model_validate_json(Path(path).read_text())


def load_phones(project: Project):
    path = phones_path(project)
    return _phones(str(path), _mtime_ns(path))


def motion_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    from vidpipe.brain.loop import attempt_seed

    p = plan["motion_clip"]
    seed = attempt_seed(project.spec.seed, plan.segment, 1)
    return produce(p.path, p.key, lambda tmp: backend.motion(
        composite_still_path(plan), plan["composite"].path, segment_features(project, plan), tmp,
        seed=seed))


def lipsync_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["lipsync_clip"]
    return produce(p.path, p.key, lambda tmp: backend.lipsync(
        plan["motion_clip"].path, segment_features(project, plan), tmp,
        audio=segment_audio_path(project, plan.segment),
        seed=derive_seed(project.spec.seed, plan.segment, "lipsync")))


def upscale_step(project: Project, plan: SegmentPlan, backend: RenderBackend) -> StageResult:
    p = plan["upscaled_clip"]
    return produce(p.path, p.key, lambda tmp: backend.upscale(
        plan["lipsync_clip"].path, project.spec.output.size, tmp))


SEGMENT_STEPS = {
    "tryon_image": tryon_step,
    "person_matte": matte_step,
    "depth_map": depth_step,
    "composite": composite_step,
    "motion_clip": motion_step,
    "lipsync_clip": lipsync_step,
    "upscaled_clip": upscale_step,
}


def speech_step(project: Project) -> StageResult:
    """The delivery's speech as AAC, kept for every delivery of the same audio: a delivery
    after re-rendering a segment only copies it into the joined video. The renderer makes
    it beside the segment renders (the encode is ~1.5 s a minute of speech)."""
    from vidpipe.media.video import encode_aac

    wav = delivery_audio_path(project)

    def make(tmp: Path) -> StageFacts:
        encode_aac(wav, tmp)
        return StageFacts()

    return produce(project.render_path("final_video", "speech", ".m4a"),
                   delivery_audio_key(project), make)


def final_step(project: Project) -> StageResult:
    """Concatenate every segment's clip and mux the speech (`speech_step`)."""
    from vidpipe.media.video import concat_with_audio

    segment_plans = plans(project)
    missing = [p.segment for p in segment_plans if not p.up_to_date()]
    if missing:
        raise StageError(f"{project.name}: segments not rendered yet: {', '.join(missing)}")

    speech = speech_step(project)

    def make(tmp: Path) -> StageFacts:
        info = concat_with_audio([p["segment_take"].path for p in segment_plans],
                                 delivery_audio_path(project), tmp,
                                 fps=project.spec.output.fps, audio_aac=speech.path)
        return StageFacts(info=json.loads(info.model_dump_json()))

    return produce(project.video_path, final_key(project, segment_plans), make)
