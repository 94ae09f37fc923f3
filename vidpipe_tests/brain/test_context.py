"""The memory state as context: whole when it fits, digested (never dropped) when not."""

from __future__ import annotations

from vidpipe.brain.context import memory_context, segment_runs
from vidpipe_tests.brain.conftest import make_state


def expand(runs: str) -> list[str]:
    out = []
    for part in filter(None, (p.strip() for p in runs.split(","))):
        a, _, b = part.partition("-")
        b = b or a
        out += [f"s{i:04d}" for i in range(int(a[1:]), int(b[1:]) + 1)]
    return out


def test_small_state_goes_in_whole():
    state = make_state(3)
    ctx = memory_context(state, "s0001")
    assert ctx.summarised == [] and "digest" not in ctx.document
    assert [e["segment"] for e in ctx.document["timeline"]] == ["s0000", "s0001", "s0002"]
    assert ctx.document["character_state"]["base_identity_ref"] == "inputs/person.png"


def test_long_state_is_digested_under_budget_and_names_every_segment():
    n = 400
    emotions = ["calm"] * 100 + ["engaged"] * 150 + ["animated"] * 150
    scenes = ["inputs/cafe.png"] * 250 + ["inputs/street.png"] * 150
    state = make_state(n, emotions=emotions, scenes=scenes)
    for e in state.timeline[:300]:
        e.status, e.attempts = "completed", 1
    state.timeline[42].status, state.timeline[42].reason = "failed", "motion_clip: StageError: boom"
    state.timeline[77].attempts = 3
    whole = memory_context(state, "s0300", budget_tokens=10**9)
    assert whole.tokens > 15_000

    ctx = memory_context(state, "s0300", budget_tokens=3000)
    assert ctx.tokens <= 3000
    kept = [e["segment"] for e in ctx.document["timeline"]]
    assert kept[-1] == "s0300" and len(kept) >= 2  # the focus and what led to it stay whole
    digest = ctx.document["digest"]
    before, after = digest["before"], digest["after"]
    # every segment is either whole or named in a digest
    assert sorted(kept + expand(before["segments"]) + expand(after["segments"])) == \
        [f"s{i:04d}" for i in range(n)]
    assert sorted(ctx.summarised) == sorted(set(f"s{i:04d}" for i in range(n)) - set(kept))
    assert before["count"] + after["count"] + len(kept) == n
    assert [r["value"] for r in before["emotion_arc"]] == ["calm", "engaged", "animated"]
    assert [r["value"] for r in before["scenes"]] == ["inputs/cafe.png", "inputs/street.png"]
    assert before["status"]["failed"] == 1 and after["status"] == {"pending": 99}
    flagged = {f["segment"]: f for f in before["retried_or_failed"]}
    assert flagged["s0042"]["reason"].startswith("motion_clip")
    assert flagged["s0077"]["attempts"] == 3
    assert "summarised" in digest["note"]


def test_tiny_budget_still_names_everything():
    state = make_state(60, emotions=[("calm", "animated")[i % 2] for i in range(60)])
    ctx = memory_context(state, "s0030", budget_tokens=200)
    kept = [e["segment"] for e in ctx.document["timeline"]]
    named = expand(ctx.document["digest"]["before"]["segments"]) + \
        expand(ctx.document["digest"]["after"]["segments"])
    assert sorted(kept + named) == [f"s{i:04d}" for i in range(60)]
    assert kept == ["s0030"]


def test_segment_runs():
    assert segment_runs(["s0000", "s0001", "s0002", "s0005", "s0007", "s0008"]) == \
        "s0000-s0002, s0005, s0007-s0008"
