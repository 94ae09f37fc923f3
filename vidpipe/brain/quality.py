"""QA scores against their bounds: which fail, how good an attempt is, and what to change.

Metric names follow `vidpipe qa` (issue 4); unknown metrics are carried along but never
judged, and a metric that was not measured never fails a segment. The mapping from a failed
metric to adjustments is the offline planner's whole judgement and Gemini's fallback when
its review proposes no change.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from vidpipe.brain.schemas import Adjustments


class QaBound(BaseModel):
    low: float | None = None
    high: float | None = None
    absolute: bool = False  # judge |value| (offsets that may be negative)


# Targets of issue 4 at 720p25 on the embedded backend.
DEFAULT_BOUNDS: dict[str, QaBound] = {
    "lipsync_corr": QaBound(low=0.6),
    "mouth_closed_silence": QaBound(low=0.9),
    "av_offset_frames": QaBound(high=1.0, absolute=True),
    "identity_distance": QaBound(high=0.4),
    "garment_delta_e": QaBound(high=6.0),
    "background_psnr": QaBound(low=32.0),
    "join_ratio": QaBound(high=1.5),
    "duration_error_frames": QaBound(high=1.0, absolute=True),
}

_STEPS: dict[str, Adjustments] = {
    "identity_distance": Adjustments(identity=0.15, denoise=-0.1,
                                     add_negative="different face, altered identity"),
    "garment_delta_e": Adjustments(identity=0.1, denoise=-0.05,
                                   add_positive="exact garment colour and texture"),
    "background_psnr": Adjustments(scene=0.1, denoise=-0.1, add_negative="altered background"),
    "lipsync_corr": Adjustments(gesture_intensity=-0.1,
                                add_positive="clear mouth shapes following the speech"),
    "mouth_closed_silence": Adjustments(add_positive="lips closed in pauses"),
    "join_ratio": Adjustments(gesture_intensity=-0.15, denoise=-0.1,
                              add_negative="flicker, sudden jumps"),
}


@dataclass(frozen=True)
class QaFailure:
    metric: str
    value: float
    bound: QaBound

    def __str__(self) -> str:
        v = abs(self.value) if self.bound.absolute else self.value
        name = f"|{self.metric}|" if self.bound.absolute else self.metric
        if self.bound.low is not None and v < self.bound.low:
            return f"{name} {v:.3g} < {self.bound.low:g}"
        return f"{name} {v:.3g} > {self.bound.high:g}"


def _judged(value: float, bound: QaBound) -> float:
    return abs(value) if bound.absolute else value


def qa_failures(qa: dict[str, float], bounds: dict[str, QaBound] | None = None) -> list[QaFailure]:
    bounds = DEFAULT_BOUNDS if bounds is None else bounds
    out = []
    for metric, bound in bounds.items():
        if metric not in qa or qa[metric] is None:
            continue
        v = _judged(float(qa[metric]), bound)
        if (bound.low is not None and v < bound.low) or (bound.high is not None and v > bound.high):
            out.append(QaFailure(metric, float(qa[metric]), bound))
    return out


def qa_score(qa: dict[str, float], bounds: dict[str, QaBound] | None = None) -> float:
    """Mean relative margin to the bounds, each clipped to [-1, 1]: > 0 inside, < 0 outside."""
    bounds = DEFAULT_BOUNDS if bounds is None else bounds
    margins = []
    for metric, bound in bounds.items():
        if metric not in qa or qa[metric] is None:
            continue
        v = _judged(float(qa[metric]), bound)
        for limit, sign in ((bound.low, 1.0), (bound.high, -1.0)):
            if limit is not None:
                margins.append(max(-1.0, min(1.0, sign * (v - limit) / max(abs(limit), 1e-6))))
    return sum(margins) / len(margins) if margins else 0.0


def merge_adjustments(items: list[Adjustments]) -> Adjustments:
    deltas = {k: max(-0.5, min(0.5, round(sum(getattr(a, k) for a in items), 4)))
              for k in ("identity", "scene", "depth", "relight", "denoise", "gesture_intensity")}

    def words(field: str) -> str:
        seen: list[str] = []
        for a in items:
            text = getattr(a, field).strip()
            if text and text not in seen:
                seen.append(text)
        return ", ".join(seen)

    return Adjustments(**deltas, add_positive=words("add_positive"),
                       add_negative=words("add_negative"),
                       keep_seed=bool(items) and all(a.keep_seed for a in items))


def adjustments_for(failures: list[QaFailure]) -> Adjustments:
    """The offline rule: each failed metric moves the strengths that govern it."""
    return merge_adjustments([_STEPS[f.metric] for f in failures if f.metric in _STEPS])
