"""The orchestrator's loop for one segment: analyze → generate → evaluate → (retry) → keep.

Plain functions over plain data, so a Dagster asset (or a test) calls them directly:

- `analyze_scene` once per scene (project level),
- `plan_segment` reads the segment's speech and drafts attempt 1's arguments,
- `run_segment` renders through the `render` callable it is given, has each attempt
  reviewed and evaluated, retries a failed one with adjusted arguments up to
  `LoopConfig.max_attempts`, reports each attempt to `record` as it lands, and hands the
  best attempt to `keep`.

Writing the results into the memory state is `vidpipe.brain.update`'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from vidpipe.brain.context import memory_context
from vidpipe.brain.planner import (GenerationRequest, ImageInput, Planner, ReviewRequest,
                                   SceneRequest, SegmentRequest)
from vidpipe.brain.quality import DEFAULT_BOUNDS, QaBound, adjustments_for, qa_failures, qa_score
from vidpipe.brain.schemas import (SCHEMA_VERSION, Adjustments, Answer, ControlStrengths,
                                   GenerationArgs, GenerationDraft, ReferenceImages, Review,
                                   SceneReading, SegmentReading)
from vidpipe.memory import MemoryState
from vidpipe.seeds import derive_seed


@dataclass(frozen=True)
class LoopConfig:
    max_attempts: int = 3
    bounds: dict[str, QaBound] = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    review_frames: int = 4  # frames sampled from an attempt for the review
    context_tokens: int = 8000  # budget of the memory context in every call


@dataclass
class RenderOutcome:
    """What a render callable returns for one attempt. `outputs` should be paths that belong
    to this attempt (not overwritten by the next one) so the best can still be kept."""

    qa: dict[str, float]
    frames: Sequence[ImageInput] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


RenderFn = Callable[[GenerationArgs], RenderOutcome]


class Decision(BaseModel):
    passed: bool
    score: float  # higher is better; compares attempts of one segment
    reasons: list[str] = Field(default_factory=list)
    adjustments: Adjustments = Field(default_factory=Adjustments)


class AttemptRecord(BaseModel):
    """One render attempt as the memory state keeps it."""

    schema_version: int = SCHEMA_VERSION
    attempt: int
    seed: int
    args: GenerationArgs
    passed: bool
    score: float
    reasons: list[str] = Field(default_factory=list)
    qa: dict[str, float] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None  # the render raised
    review: dict | None = None  # Answer.note() of the review call


class SegmentPlanning(BaseModel):
    segment: str
    reading: Answer[SegmentReading]
    draft: Answer[GenerationDraft]
    args: GenerationArgs  # attempt 1


class SegmentOutcome(BaseModel):
    schema_version: int = SCHEMA_VERSION
    segment: str
    passed: bool  # the kept attempt passed its evaluation
    best: int | None  # attempt number kept; None when every attempt raised
    attempts: list[AttemptRecord]
    planning: SegmentPlanning

    def best_attempt(self) -> AttemptRecord | None:
        return next((a for a in self.attempts if a.attempt == self.best), None)

    def metadata(self) -> dict:
        best = self.best_attempt()
        out = {"attempts": len(self.attempts), "best_attempt": self.best or 0,
               "passed": self.passed, "planner": self.planning.reading.planner,
               "emotion": self.planning.reading.reply.emotion,
               **self.planning.reading.metadata(), **self.planning.draft.metadata()}
        if best:
            out.update({f"qa_{k}": v for k, v in best.qa.items()})
        calls = [self.planning.reading.note(), self.planning.draft.note()] + [
            a.review for a in self.attempts if a.review]
        out["planner_tokens"] = sum(c.get("tokens") or 0 for c in calls)
        out["planner_cost_usd"] = round(sum(c.get("cost_usd") or 0.0 for c in calls), 6)
        warnings = [a.review.get("warning") for a in self.attempts if a.review] + [
            self.planning.reading.warning, self.planning.draft.warning]
        if any(warnings):
            out["planner_warnings"] = " | ".join(w for w in warnings if w)
        return out


# ---------------------------------------------------------------------------- analyze

def analyze_scene(planner: Planner, state: MemoryState, scene_ref: str, analysis: dict,
                  image: ImageInput | None = None,
                  config: LoopConfig = LoopConfig()) -> Answer[SceneReading]:
    """Read one scene (once per scene, at project level)."""
    ctx = memory_context(state, None, budget_tokens=config.context_tokens)
    return planner.read_scene(SceneRequest(scene_ref=scene_ref, analysis=analysis, image=image,
                                           context=ctx.document))


# ---------------------------------------------------------------------------- generate

def attempt_seed(project_seed: int, segment: str, attempt: int) -> int:
    """Attempt 1 renders with the project's locked motion seed (the idle-motion curve is a
    function of the absolute frame index, so one seed for all segments keeps the joins
    continuous); a retry gets a seed of its own, still derived, so re-runs repeat."""
    if attempt <= 1:
        return derive_seed(project_seed, "motion")
    return derive_seed(project_seed, segment, "motion", f"attempt{attempt}")


def build_args(draft: GenerationDraft, *, segment: str, attempt: int, seed: int,
               references: ReferenceImages, planner: str) -> GenerationArgs:
    """A planner's draft anchored to the original references with a derived seed."""
    return GenerationArgs(segment=segment, attempt=attempt, seed=seed, references=references,
                          positive_prompt=draft.positive_prompt,
                          negative_prompt=draft.negative_prompt,
                          strengths=draft.strengths, gesture_intensity=draft.gesture_intensity,
                          expression=draft.expression, planner=planner)


def adjust_args(args: GenerationArgs, adjustments: Adjustments,
                project_seed: int) -> GenerationArgs:
    """The next attempt's arguments: strengths moved and clamped, prompts extended, a new
    seed unless the adjustments keep it; the references stay the originals."""
    def clamp(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 4)

    s = args.strengths
    strengths = ControlStrengths(**{k: clamp(getattr(s, k) + getattr(adjustments, k))
                                    for k in ControlStrengths.model_fields})
    attempt = args.attempt + 1

    def extend(prompt: str, words: str) -> str:
        return f"{prompt}, {words}" if words and words not in prompt else prompt

    return args.model_copy(update={
        "attempt": attempt,
        "seed": args.seed if adjustments.keep_seed else attempt_seed(project_seed, args.segment,
                                                                      attempt),
        "strengths": strengths,
        "gesture_intensity": clamp(args.gesture_intensity + adjustments.gesture_intensity),
        "positive_prompt": extend(args.positive_prompt, adjustments.add_positive),
        "negative_prompt": extend(args.negative_prompt, adjustments.add_negative)})


def plan_segment(planner: Planner, state: MemoryState, segment: str, *, scene: SceneReading,
                 references: ReferenceImages, mean_energy: float, speech_ratio: float,
                 transcript: str | None = None, features: dict[str, float] | None = None,
                 audio: str | Path | None = None,
                 reference_images: dict[str, ImageInput] | None = None,
                 config: LoopConfig = LoopConfig()) -> SegmentPlanning:
    """Analyze the segment's speech (reading the previous segment's emotion from memory)
    and draft attempt 1's generation arguments."""
    entry = state.entry(segment)
    index = [e.segment for e in state.timeline].index(segment)
    previous = state.timeline[index - 1].emotional_state if index > 0 else None
    ctx = memory_context(state, segment, budget_tokens=config.context_tokens).document
    reading = planner.read_segment(SegmentRequest(
        segment=segment, start_s=entry.start_s, end_s=entry.end_s, mean_energy=mean_energy,
        speech_ratio=speech_ratio, transcript=transcript, previous_emotion=previous,
        features=features or {}, audio=audio, context=ctx))
    draft = planner.draft_generation(GenerationRequest(
        segment=segment, scene=scene, reading=reading.reply, references=references,
        images=reference_images or {}, context=ctx))
    args = build_args(draft.reply, segment=segment, attempt=1,
                      seed=attempt_seed(state.seed, segment, 1), references=references,
                      planner=draft.planner)
    return SegmentPlanning(segment=segment, reading=reading, draft=draft, args=args)


# ---------------------------------------------------------------------------- evaluate

def _pixels(frame: ImageInput) -> np.ndarray:
    if isinstance(frame, np.ndarray):
        return frame
    if isinstance(frame, (bytes, bytearray)):
        import io

        return np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))
    return np.asarray(Image.open(Path(frame)).convert("RGB"))


def sample_frames(frames: Sequence[ImageInput], n: int) -> list[ImageInput]:
    frames = list(frames)
    if n <= 0 or not frames:
        return []
    if len(frames) <= n:
        return frames
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def evaluate_segment(qa_scores: dict[str, float], frames: Sequence[ImageInput] = (),
                     review: Review | None = None,
                     bounds: dict[str, QaBound] | None = None) -> Decision:
    """Pass or fail an attempt: QA bounds, frames that are not blank, and the review's
    verdict when there is one. The review's adjustments win; the QA rule fills in when it
    proposes none."""
    failures = qa_failures(qa_scores, bounds)
    reasons = [str(f) for f in failures]
    score = qa_score(qa_scores, bounds)
    if frames and all(float(_pixels(f).std()) < 2.0 for f in frames):
        reasons.append("rendered frames are blank")
        score -= 1.0
    if review is not None and not review.passed:
        reasons += [r for r in review.reasons if r not in reasons]
        if not review.reasons:
            reasons.append("the review did not pass it")
        score -= 0.5
    adjustments = (review.adjustments if review is not None and not review.adjustments.is_empty()
                   else adjustments_for(failures))
    return Decision(passed=not reasons, score=round(score, 4), reasons=reasons,
                    adjustments=adjustments)


def pick_best(attempts: list[AttemptRecord]) -> AttemptRecord | None:
    """Passed before failed, then the higher score, then the earlier attempt."""
    rendered = [a for a in attempts if a.error is None]
    if not rendered:
        return None
    return max(rendered, key=lambda a: (a.passed, a.score, -a.attempt))


# ---------------------------------------------------------------------------- the loop

def run_segment(planner: Planner, state: MemoryState, planning: SegmentPlanning,
                render: RenderFn, *, config: LoopConfig = LoopConfig(),
                reference_images: dict[str, ImageInput] | None = None,
                record: Callable[[AttemptRecord], None] | None = None,
                keep: Callable[[AttemptRecord], None] | None = None) -> SegmentOutcome:
    """Render, evaluate and retry one segment. `record` sees every attempt as it lands
    (write it to the memory state there); `keep` gets the best attempt at the end (promote
    its files there). If every attempt raised, the last exception is raised again after
    all of them were recorded."""
    args = planning.args
    attempts: list[AttemptRecord] = []
    last_exc: BaseException | None = None
    for n in range(1, max(1, config.max_attempts) + 1):
        started = time.perf_counter()
        try:
            outcome = render(args)
        except Exception as exc:  # noqa: BLE001 - recorded, retried, re-raised at the end
            last_exc = exc
            rec = AttemptRecord(attempt=n, seed=args.seed, args=args, passed=False, score=-2.0,
                                reasons=[f"render failed: {type(exc).__name__}: {exc}"[:300]],
                                seconds=round(time.perf_counter() - started, 3),
                                error=f"{type(exc).__name__}: {exc}"[:300])
            adjustments = Adjustments()
        else:
            frames = sample_frames(outcome.frames, config.review_frames)
            ctx = memory_context(state, planning.segment, budget_tokens=config.context_tokens)
            review = planner.review(ReviewRequest(
                segment=planning.segment, attempt=n, args=args, qa=dict(outcome.qa),
                frames=frames, images=reference_images or {}, bounds=config.bounds,
                context=ctx.document))
            decision = evaluate_segment(outcome.qa, frames, review.reply, config.bounds)
            rec = AttemptRecord(attempt=n, seed=args.seed, args=args, passed=decision.passed,
                                score=decision.score, reasons=decision.reasons,
                                qa=dict(outcome.qa), outputs=dict(outcome.outputs),
                                seconds=round(outcome.seconds or time.perf_counter() - started, 3),
                                review=review.note())
            adjustments = decision.adjustments
        attempts.append(rec)
        if record is not None:
            record(rec)
        if rec.passed:
            break
        if n < config.max_attempts:
            args = adjust_args(args, adjustments, state.seed)
    best = pick_best(attempts)
    if best is None and last_exc is not None:
        raise last_exc
    if keep is not None and best is not None:
        keep(best)
    return SegmentOutcome(segment=planning.segment, passed=bool(best and best.passed),
                          best=best.attempt if best else None, attempts=attempts,
                          planning=planning)
