"""The memory state as the context of a planner call, kept under a token budget.

The segment being planned and the few before it go in whole (compacted to what a planner
can use); when the document would exceed the budget, every other timeline entry is folded
into a digest — runs of emotion, scene and garment, status counts, failures — that still
names each folded segment, so a long project loses detail, never entries.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import groupby

from vidpipe.memory import MemoryState, TimelineEntry, format_range

CHARS_PER_TOKEN = 4  # a rough, conservative average for JSON text with Gemini's tokenizer


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass
class MemoryContext:
    document: dict
    tokens: int  # estimate
    summarised: list[str] = field(default_factory=list)  # segments folded into the digest

    def text(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, separators=(",", ":"))


def compact_entry(entry: TimelineEntry) -> dict:
    out = {"segment": entry.segment, "time": entry.timestamp_range, "action": entry.action,
           "emotion": entry.emotional_state, "scene": entry.scene_ref,
           "clothing": entry.clothing_ref, "status": entry.status}
    if entry.attempts:
        out["attempts"] = entry.attempts
    if entry.reason:
        out["reason"] = entry.reason
    if entry.qa:
        out["qa"] = {k: round(v, 3) for k, v in entry.qa.items()}
    return out


def segment_runs(keys: list[str]) -> str:
    """'s0000-s0003, s0007' from consecutive segment keys."""
    def num(k: str) -> int:
        return int(k.lstrip("s")) if k.lstrip("s").isdigit() else -1

    parts, i = [], 0
    while i < len(keys):
        j = i
        while j + 1 < len(keys) and num(keys[j]) >= 0 and num(keys[j + 1]) == num(keys[j]) + 1:
            j += 1
        parts.append(keys[i] if i == j else f"{keys[i]}-{keys[j]}")
        i = j + 1
    return ", ".join(parts)


def _runs(entries: list[TimelineEntry], attr: str) -> list[dict]:
    out = []
    for value, group in groupby(entries, key=lambda e: getattr(e, attr)):
        group = list(group)
        out.append({"segments": segment_runs([e.segment for e in group]),
                    "time": format_range(group[0].start_s, group[-1].end_s), "value": value})
    return out


def digest(entries: list[TimelineEntry], max_runs: int = 12, max_failures: int = 10,
           reason_chars: int = 120) -> dict:
    """A summary of timeline entries that still names every one of them."""
    counts: dict[str, int] = {}
    actions: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
        actions[e.action] = actions.get(e.action, 0) + 1

    def cap(runs: list[dict]) -> list[dict]:
        if len(runs) <= max_runs:
            return runs
        head, tail = runs[: max_runs // 2], runs[-(max_runs - max_runs // 2):]
        hidden = runs[len(head): len(runs) - len(tail)]
        middle = {"segments": ", ".join(r["segments"] for r in hidden),
                  "value": f"{len(hidden)} shorter runs, values: "
                           + ", ".join(sorted({str(r['value']) for r in hidden}))}
        return head + [middle] + tail

    failures = [e for e in entries if e.status == "failed" or e.attempts > 1]
    return {
        "segments": segment_runs([e.segment for e in entries]),
        "count": len(entries),
        "time": format_range(entries[0].start_s, entries[-1].end_s) if entries else "",
        "status": counts,
        "actions": actions,
        "emotion_arc": cap(_runs(entries, "emotional_state")),
        "scenes": cap(_runs(entries, "scene_ref")),
        "clothing": cap(_runs(entries, "clothing_ref")),
        "attempts_total": sum(e.attempts for e in entries),
        "retried_or_failed": [{"segment": e.segment, "attempts": e.attempts,
                               "reason": (e.reason or "")[:reason_chars]}
                              for e in failures[:max_failures]],
        "retried_or_failed_more": max(0, len(failures) - max_failures),
    }


def memory_context(state: MemoryState, focus: str | None = None, *, budget_tokens: int = 8000,
                   window: int = 3) -> MemoryContext:
    """The document a planner call reads. `focus` is the segment being planned; `window`
    how many segments before it stay whole when the budget forces a digest."""
    head = {"session_id": state.session_id, "focus": focus,
            "character_state": state.character_state.model_dump(mode="json"),
            "environment_state": state.environment_state.model_dump(mode="json"),
            "scenes": {ref: {k: s[k] for k in ("lighting_condition", "camera_angle", "mood")
                             if k in s} for ref, s in state.scenes.items()}}
    timeline = list(state.timeline)

    def build(lo: int, hi: int, **caps) -> MemoryContext:
        """Entries [lo, hi) whole, the rest folded into digests before and after."""
        before, keep, after = timeline[:lo], timeline[lo:hi], timeline[hi:]
        folded = before + after
        doc = dict(head, timeline=[compact_entry(e) for e in keep])
        if folded:
            doc["digest"] = {
                "note": f"{len(folded)} timeline entries summarised to keep this context under "
                        f"{budget_tokens} tokens; memory.json holds them in full",
                **({"before": digest(before, **caps)} if before else {}),
                **({"after": digest(after, **caps)} if after else {})}
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        return MemoryContext(doc, estimate_tokens(text), [e.segment for e in folded])

    ctx = build(0, len(timeline))
    if ctx.tokens <= budget_tokens:
        return ctx
    index = next((i for i, e in enumerate(timeline) if e.segment == focus), len(timeline) - 1)
    for w in range(window, -1, -1):
        for caps in ({}, {"max_runs": 6, "max_failures": 4, "reason_chars": 60},
                     {"max_runs": 2, "max_failures": 0, "reason_chars": 0}):
            ctx = build(max(0, index - w), index + 1, **caps)
            if ctx.tokens <= budget_tokens:
                return ctx
    return ctx  # the smallest form we can make; the caller's budget is below what it needs
