import multiprocessing as mp

from vidpipe.memory import (CharacterState, EnvironmentState, MemoryState, MemoryStore,
                            TimelineEntry, format_range)


def _state(n=4):
    return MemoryState(
        session_id="demo", seed=1,
        character_state=CharacterState(base_identity_ref="p.png", current_clothing_ref="g.png"),
        environment_state=EnvironmentState(current_scene_ref="s.jpg"),
        timeline=[TimelineEntry(segment=f"s{i:04d}", timestamp_range=format_range(i * 4, i * 4 + 4),
                                start_s=i * 4, end_s=i * 4 + 4, audio_segment="a.wav",
                                scene_ref="s.jpg", clothing_ref="g.png") for i in range(n)])


def _bump(path, segment, times):
    store = MemoryStore(path)
    for _ in range(times):
        store.update(lambda s: setattr(s.entry(segment), "attempts", s.entry(segment).attempts + 1))


def test_concurrent_updates_are_not_lost(tmp_path):
    path = tmp_path / "memory.json"
    MemoryStore(path).write(_state())
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_bump, args=(path, f"s{i % 2:04d}", 25)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    state = MemoryStore(path).read()
    assert [e.attempts for e in state.timeline] == [50, 50, 0, 0]


def test_round_trip_keeps_architecture_fields(tmp_path):
    store = MemoryStore(tmp_path / "m.json")
    store.write(_state(2))
    store.set_segment("s0001", status="failed", reason="motion_clip: boom")
    raw = store.path.read_text()
    for field in ("session_id", "character_state", "base_identity_ref", "current_clothing_ref",
                  "emotional_state", "environment_state", "current_scene_ref",
                  "lighting_condition", "camera_angle", "timeline", "timestamp_range",
                  "audio_segment", "action", "status", "schema_version"):
        assert f'"{field}"' in raw
    state = store.read()
    assert state.entry("s0001").status == "failed"
    assert state.counts() == {"pending": 1, "rendering": 0, "completed": 0, "failed": 1}
    assert format_range(65.5, 70.25) == "01:05.50-01:10.25"
