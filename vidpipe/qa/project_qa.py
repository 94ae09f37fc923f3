"""QA of a rendered vidpipe project: builds the measurement inputs from the project's plan and
writes the report, the contact sheet and the per-segment scores into the memory state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vidpipe.memory import MemoryState, MemoryStore
from vidpipe.project import Project
from vidpipe.qa.check import check
from vidpipe.qa.models import Failure, ProjectQA
from vidpipe.storage import write_bytes_atomic, write_text_atomic

# Every metric `check` can fail, as the Dagster asset check that reports it.
CHECKS: dict[str, tuple[str, ...]] = {
    "lipsync": ("lipsync_corr",),
    "mouth_closed_in_silence": ("silent_closed",),
    "av_offset": ("av_offset",),
    "identity": ("identity", "identity_trend"),
    "garment_colour": ("garment_delta_e_tryon", "garment_delta_e_frames"),
    "background_psnr": ("background_psnr",),
    "flicker": ("flicker_luma_std", "flicker_diff"),
    "joins": ("join_ratio",),
    "duration": ("frame_error", "duration_error_frames"),
    "visemes": ("rounding_ratio", "bilabial_closed"),
}


@dataclass
class QAOutcome:
    qa: ProjectQA
    failures: list[Failure]
    report_path: Path
    sheet_path: Path | None


def qa_dir(project: Project) -> Path:
    return project.folder / "renders" / "video_qa"


def segment_inputs(project: Project):
    from vidpipe.media.phonemes import viseme_frames
    from vidpipe.qa.measure import SegmentInput
    from vidpipe.render import steps

    phones = steps.load_phones(project)
    out = []
    for p in steps.plans(project):
        f = steps.segment_features(project, p)
        out.append(SegmentInput(key=p.segment, first_frame=p.first_frame, n_frames=p.n_frames,
                                planned_frames=p.n_frames, features=f,
                                layers_path=p["composite"].path,
                                visemes=viseme_frames(phones, f.fps, f.first_frame, f.n_frames)))
    return out


def measure(project: Project, *, sheet: bool = True) -> QAOutcome:
    from vidpipe.qa.measure import measure_project
    from vidpipe.qa.sheet import contact_sheet
    from vidpipe.render import steps

    plans = steps.plans(project)
    analysis = steps.load_analysis(project)
    segments = segment_inputs(project)
    qa = measure_project(project.video_path, segments,
                         person_photo=project.path(project.spec.inputs.person),
                         garment_photo=project.path(plans[0].garment),
                         tryon_image=plans[0]["tryon_image"].path,
                         audio_duration_s=analysis.duration_s)
    bounds = project.spec.qa
    failures = check(qa, bounds)
    out = qa_dir(project)
    report = out / "qa.json"
    write_text_atomic(report, json.dumps({"qa": qa.model_dump(mode="json"),
                                          "bounds": bounds.model_dump(mode="json"),
                                          "failures": [f.model_dump(mode="json")
                                                       for f in failures]}, indent=2))
    sheet_path = None
    if sheet:
        sheet_path = out / "contact_sheet.png"
        write_bytes_atomic(sheet_path, contact_sheet(project.video_path, segments, qa, bounds))
    record_in_memory(project, qa, failures)
    return QAOutcome(qa, failures, report, sheet_path)


SEGMENT_SCORES = ("lipsync_corr", "silent_closed", "av_offset", "identity_mean",
                  "garment_delta_e", "background_psnr", "join_ratio", "frame_error")


def record_in_memory(project: Project, qa: ProjectQA, failures: list[Failure]) -> MemoryState:
    def apply(state: MemoryState) -> None:
        for s in qa.segments:
            entry = state.entry(s.key)
            entry.qa = {k: float(v) for k in SEGMENT_SCORES
                        if (v := getattr(s, k)) is not None}
            entry.qa["failed_checks"] = float(sum(f.segment == s.key for f in failures))

    return MemoryStore(project.memory_path).update(apply)


def check_results(failures: list[Failure]) -> dict[str, tuple[bool, bool, list[str]]]:
    """{check name: (passed, blocking failure, messages)}."""
    out = {}
    for name, metrics in CHECKS.items():
        mine = [f for f in failures if f.metric in metrics]
        out[name] = (not mine, any(f.blocking for f in mine), [f.message for f in mine])
    return out


def qa_table(qa: ProjectQA, failures: list[Failure]) -> str:
    """The table `vidpipe qa` prints: one row per segment, then the whole video.

    "round" is rounding_ratio (mouth width on o/u/w frames / on open-vowel frames; < 1 means
    rounding is seen), "p/b/m" the share of bilabial frames with the mouth closed."""
    def f(v, spec):
        return "-" if v is None else format(v, spec)

    bad = {(x.segment, x.metric) for x in failures}
    head = (f"{'segment':8} {'frames':>7} {'lip r':>6} {'closed':>7} {'offset':>6} "
            f"{'round':>5} {'p/b/m':>6} "
            f"{'ident':>6} {'garmΔE':>7} {'bgPSNR':>7} {'join':>5}  failed")
    rows = [head, "-" * len(head)]
    for s in qa.segments:
        failed = sorted(m for seg, m in bad if seg == s.key)
        rows.append(f"{s.key:8} {s.frames:>4}/{s.planned_frames:<3}{f(s.lipsync_corr, '6.2f'):>6} "
                    f"{f(s.silent_closed, '7.0%'):>7} {f(s.av_offset, '+6d'):>6} "
                    f"{f(s.rounding_ratio, '5.2f'):>5} {f(s.bilabial_closed, '6.0%'):>6} "
                    f"{f(s.identity_mean, '6.2f'):>6} {f(s.garment_delta_e, '7.1f'):>7} "
                    f"{f(s.background_psnr, '7.1f'):>7} {f(s.join_ratio, '5.2f'):>5}  "
                    f"{', '.join(failed) or 'ok'}")
    rows.append("-" * len(head))
    video_failed = sorted(m for seg, m in bad if seg is None)
    rows.append(f"{'video':8} {qa.n_frames:>7} {f(qa.lipsync_corr, '6.2f'):>6} "
                f"{f(qa.silent_closed, '7.0%'):>7} {f(qa.av_offset, '+6d'):>6} "
                f"{f(qa.rounding_ratio, '5.2f'):>5} {f(qa.bilabial_closed, '6.0%'):>6} "
                f"{f(qa.identity_mean, '6.2f'):>6} {f(qa.garment_delta_e_tryon, '7.1f'):>7} "
                f"{f(qa.background_psnr, '7.1f'):>7} {f(qa.join_ratio_max, '5.2f'):>5}  "
                f"{', '.join(video_failed) or 'ok'}")
    rows.append(f"duration: video {qa.video_duration_s:.3f} s, audio "
                f"{f(qa.audio_duration_s, '.3f')} s ({f(qa.duration_error_frames, '+.2f')} "
                f"frames); identity trend {f(qa.identity_trend, '+.3f')}/segment; flicker "
                f"luma std {f(qa.flicker_luma_std, '.2f')}; measured in {qa.measure_s:.1f} s")
    rows.append(f"visemes: mouth width / eye distance {f(qa.rounded_width, '.3f')} on "
                f"{qa.rounded_frames} o/u/w frames, {f(qa.open_width, '.3f')} on "
                f"{qa.open_frames} open-vowel frames; {qa.bilabial_frames} p/b/m frames")
    return "\n".join(rows)
