"""The offline planner: every call answered with the shared schemas, from statistics alone,
the same way every time."""

from __future__ import annotations

from vidpipe.analysis.scene import analyze_scene
from vidpipe.brain.planner import (GenerationRequest, OfflinePlanner, Planner, ReviewRequest,
                                   SceneRequest, SegmentRequest)
from vidpipe.brain.schemas import ReferenceImages
from vidpipe.brain.loop import build_args
from vidpipe_tests.brain.conftest import scene_image

REFS = ReferenceImages(identity="renders/tryon_image/abc.png", scene="inputs/scene.png")


def segment(energy: float, speech: float, **kw) -> SegmentRequest:
    return SegmentRequest(segment="s0000", start_s=0.0, end_s=4.0, mean_energy=energy,
                          speech_ratio=speech, **kw)


def test_offline_planner_is_a_planner():
    assert isinstance(OfflinePlanner(), Planner)


def test_scene_reading_follows_the_measured_light():
    planner = OfflinePlanner()
    warm_left = analyze_scene(scene_image(warm=True, light_from="left")).model_dump(mode="json")
    cool_right = analyze_scene(scene_image(warm=False, light_from="right")).model_dump(mode="json")
    a = planner.read_scene(SceneRequest("inputs/a.png", warm_left))
    b = planner.read_scene(SceneRequest("inputs/b.png", cool_right))
    assert a.planner == "offline" and a.cost_usd == 0.0 and a.requests == 0
    key_a, key_b = a.reply.light_sources[0], b.reply.light_sources[0]
    assert (key_a.role, key_a.direction) == ("key", "left") and key_b.direction == "right"
    assert key_a.colour_temperature_k < 4000 < key_b.colour_temperature_k
    assert a.reply.lighting_condition.startswith("warm")
    assert "from the left" in a.reply.lighting_condition
    assert "shadows falling to the right" in a.reply.positive_prompt
    assert a.reply.mood == warm_left["mood"]
    assert a.reply.camera_angle == f"{a.reply.framing.shot} shot, {a.reply.framing.angle}"
    # deterministic: the same statistics give the same reading
    assert planner.read_scene(SceneRequest("inputs/a.png", warm_left)).reply == a.reply


def test_scene_reading_survives_a_sparse_analysis():
    reply = OfflinePlanner().read_scene(SceneRequest("inputs/x.png", {})).reply
    assert reply.light_sources[0].direction == "front" and reply.framing.shot == "medium"


def test_segment_reading_from_loudness_speech_and_transcript():
    p = OfflinePlanner()
    quiet = p.read_segment(segment(0.3, 0.1)).reply
    loud = p.read_segment(segment(0.85, 0.95)).reply
    assert (quiet.action, quiet.emotion) == ("pausing, listening", "calm")
    assert quiet.gesture_intensity <= 0.15
    assert loud.emotion == "animated" and loud.gesture_intensity > 0.6
    assert p.read_segment(segment(0.6, 0.9, transcript="We made it!")).reply.emotion == "excited"
    assert p.read_segment(segment(0.3, 0.9, transcript="Ready?")).reply.emotion == "curious"
    # a hair's breadth from a threshold, the previous segment's emotion carries on
    assert p.read_segment(segment(0.46, 0.9, previous_emotion="calm")).reply.emotion == "calm"
    assert p.read_segment(segment(0.46, 0.9)).reply.emotion == "engaged"


def test_generation_draft_and_review():
    p = OfflinePlanner()
    analysis = analyze_scene(scene_image()).model_dump()
    scene = p.read_scene(SceneRequest("inputs/a.png", analysis)).reply
    reading = p.read_segment(segment(0.8, 0.9)).reply
    draft = p.draft_generation(GenerationRequest("s0000", scene, reading, REFS)).reply
    assert draft.positive_prompt.startswith(scene.positive_prompt)
    assert "animated expression" in draft.positive_prompt
    assert draft.strengths == scene.strengths
    assert draft.gesture_intensity == reading.gesture_intensity
    args = build_args(draft, segment="s0000", attempt=1, seed=7, references=REFS,
                      planner="offline")
    good = p.review(ReviewRequest("s0000", 1, args, {"identity_distance": 0.3,
                                                      "lipsync_corr": 0.7})).reply
    assert good.passed and good.reasons == [] and good.adjustments.is_empty()
    bad = p.review(ReviewRequest("s0000", 1, args, {"identity_distance": 0.55,
                                                     "background_psnr": 28.0})).reply
    assert not bad.passed
    assert bad.reasons == ["identity_distance 0.55 > 0.4", "background_psnr 28 < 32"]
    assert bad.adjustments.identity == 0.15 and bad.adjustments.scene == 0.1
    assert bad.adjustments.denoise == -0.2
