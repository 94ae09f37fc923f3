"""measure_project end to end on small synthetic videos, and the contact sheet."""

import cv2
import numpy as np
import pytest

from vidpipe.qa import QABounds, SegmentInput, check, contact_sheet, measure_project
from vidpipe_tests.qa.conftest import (FPS, astronaut, blob_layers, face_with_mouth, features,
                                       moving_frames, save, write_clip)


def _split(feat, cuts, layers_path=None, planned=None):
    segs = []
    bounds = [0, *cuts, feat.n_frames]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        f = features(feat.energy[a:b], feat.voiced[a:b], feat.mouth_open[a:b], first_frame=a)
        segs.append(SegmentInput(key=f"s{k:04d}", first_frame=a, n_frames=b - a,
                                 planned_frames=(planned or {}).get(k, b - a), features=f,
                                 layers_path=layers_path))
    return segs


def test_lipsync_offset_silence_and_identity(lip_clip):
    path, feat = lip_clip
    qa = measure_project(path, _split(feat, [50]), person_photo=face_with_mouth(0))
    assert qa.n_frames == 100 and qa.fps == FPS
    assert qa.av_offset == 2  # the drawn mouth lags the sound by 2 frames
    assert [s.av_offset for s in qa.segments] == [2, 2]
    assert all(s.face_found == 1.0 for s in qa.segments)
    # 15 + 7 of 30 silent frames are closed
    assert qa.silent_closed == pytest.approx(22 / 30, abs=0.07)
    assert qa.segments[0].silent_closed == 1.0
    assert qa.identity_max < 0.3 and qa.segments[1].identity_samples == 2
    assert qa.background_psnr is None and qa.segments[0].flicker_luma_std is None
    metrics = {(f.metric, f.segment) for f in check(qa)}
    assert ("av_offset", "s0000") in metrics and ("silent_closed", "s0001") in metrics
    assert ("silent_closed", "s0000") not in metrics


def test_stored_references_and_the_frame_hook_change_nothing(tmp_path, lip_clip):
    from vidpipe.media.video import iter_frames
    from vidpipe.qa.measure import References, read_references

    path, feat = lip_clip
    segs = _split(feat, [50])
    person = face_with_mouth(0)
    fresh = measure_project(path, segs, person_photo=person)
    refs = References.from_json(read_references(person, None, None).to_json())
    seen = {}
    stored = measure_project(path, segs, person_photo=person, references=refs,
                             frame_hook=lambda i, f: seen.setdefault(i, f.copy()))
    drop = {"measure_s", "timings"}
    assert stored.model_dump(exclude=drop) == fresh.model_dump(exclude=drop)
    assert sorted(seen) == list(range(fresh.n_frames))
    first = next(iter_frames(path))
    assert np.array_equal(seen[0], first)


def test_in_sync_mouth_correlates(tmp_path, lip_clip):
    _, feat = lip_clip
    height = np.where(feat.voiced > 0.5, 20.0 * feat.energy, 0.0)
    path = write_clip(tmp_path / "sync.mp4", (face_with_mouth(h) for h in height[:60]))
    seg = _split(features(feat.energy[:60], feat.voiced[:60]), [])
    qa = measure_project(path, seg, person_photo=face_with_mouth(0))
    assert qa.av_offset == 0 and qa.lipsync_corr > 0.9 and qa.silent_closed == 1.0


@pytest.fixture(scope="module")
def scene_videos(tmp_path_factory):
    """Two 2-segment clips of the blob scene: one continuous and steady, one with a hard
    recolour at the join and a flickering background in its second segment."""
    d = tmp_path_factory.mktemp("scene")
    layers = blob_layers()
    lpath = save(d / "layers.npz", layers)
    n = 40
    wobble = [6 * np.sin(2 * np.pi * i / 20) for i in range(2 * n)]
    good = write_clip(d / "good.mp4", moving_frames(layers, wobble))
    gains = 1 + 0.05 * np.sin(np.arange(n) * 2.1)
    bad = write_clip(d / "bad.mp4", moving_frames(layers, wobble[:n])
                     + moving_frames(layers, wobble[n:], colour=(60, 170, 90), gains=gains))
    silent = features(np.zeros(2 * n), np.zeros(2 * n))
    return good, bad, _split(silent, [n], lpath), _split(silent, [n], lpath, planned={1: 41})


@pytest.fixture(scope="module")
def scene_qa(scene_videos):
    good, bad, segs_good, segs_bad = scene_videos
    return (measure_project(good, segs_good, person_photo=astronaut()),
            measure_project(bad, segs_bad, person_photo=astronaut(),
                            audio_duration_s=80 / FPS + 0.2))


def test_scene_fidelity_and_steady_joins(scene_qa):
    qa, _ = scene_qa
    assert qa.background_psnr > 32
    assert qa.segments[1].join_ratio < 1.5 and qa.segments[0].join_ratio is None
    assert qa.flicker_luma_std < 0.5
    assert qa.identity_mean is None and qa.reference_face_found
    assert qa.segments[0].face_found == 0.0 and qa.lipsync_corr is None
    assert check(qa) == []


def test_cut_flicker_and_durations_are_flagged(scene_qa):
    _, qa = scene_qa
    s0, s1 = qa.segments
    assert s1.join_ratio > 3
    assert s1.flicker_luma_std > 1.0 and s0.flicker_luma_std < 0.5
    assert s1.frame_error == -1 and qa.duration_error_frames == pytest.approx(-5, abs=0.01)
    metrics = {(f.metric, f.segment) for f in check(qa)}
    assert {("join_ratio", "s0001"), ("flicker_luma_std", "s0001"), ("frame_error", "s0001"),
            ("duration_error_frames", None)} <= metrics
    assert not any(seg == "s0000" for _, seg in metrics)


def _red_text(png: bytes) -> int:
    """Red pixels on the white text panels (the frames themselves are masked out)."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)  # BGR
    img = img[(img.min(axis=2) > 240).mean(axis=1) > 0.5]  # rows of text on white
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((r > 150) & (g < 90) & (b < 90)))


def test_contact_sheet_shows_each_segment_and_its_failures(scene_videos, scene_qa):
    good, bad, segs_good, segs_bad = scene_videos
    qa_good, qa_bad = scene_qa
    png = contact_sheet(bad, segs_bad, qa_bad)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[1] >= 640 and img.shape[0] > 180
    assert _red_text(png) > 50  # failing lines are written in red
    # the middle frame of the second segment is the recoloured blob (green in RGB)
    tile = img[60:60 + 180, 320 + 4:640 + 4]
    assert np.count_nonzero((tile[..., 1] > 140) & (tile[..., 2] < 90)) > 500
    assert _red_text(contact_sheet(good, segs_good, qa_good, QABounds())) == 0


@pytest.fixture(scope="module")
def viseme_renders(tmp_path_factory):
    """A head clip lip-synced from phones (silence, then "ah oo m" three times), rendered
    once with the lips rounded on "oo" and once with rounding switched off."""
    from vidpipe.media.phonemes import (Phone, PhoneAlignment, viseme_caps, viseme_frames,
                                        viseme_rounding)
    from vidpipe.render.embedded.lipsync import apply_lipsync
    from vidpipe_tests.render.embedded.video_fixtures import face_frame

    phones, t = [Phone(phone="SIL", word="<sil>", start_s=0.0, end_s=0.4)], 0.4
    for _ in range(3):
        for ph, dur in (("AA", 0.2), ("UW", 0.2), ("M", 0.08), ("S", 0.08)):
            phones.append(Phone(phone=ph, word="x", start_s=t, end_s=t + dur))
            t += dur
    alignment = PhoneAlignment(source="transcript", phones=phones)
    n = int(round(t * FPS)) + 4
    classes = viseme_frames(alignment, FPS, 0, n)
    voiced = ((classes != "silence") & (classes != "")).astype(np.float32)
    energy = 0.8 * voiced
    mouth = np.minimum(voiced, viseme_caps(alignment, FPS, 0, n))
    d = tmp_path_factory.mktemp("visemes")
    still = face_frame(192)
    clip = write_clip(d / "still.mp4", [still] * n)
    out = {}
    for name, rounding in (("rounded", viseme_rounding(alignment, FPS, 0, n)),
                           ("flat", np.zeros(n, np.float32))):
        f = features(energy, voiced, mouth)
        f.rounding = rounding
        apply_lipsync(clip, f, d / f"{name}.mp4")
        seg = SegmentInput(key="s0000", first_frame=0, n_frames=n, planned_frames=n,
                           features=f, visemes=classes)
        out[name] = measure_project(d / f"{name}.mp4", [seg], person_photo=still)
    return out


def test_rounded_lips_are_measured_narrower_than_open_ones(viseme_renders):
    rounded, flat = viseme_renders["rounded"], viseme_renders["flat"]
    assert rounded.rounded_frames >= 12 and rounded.open_frames >= 12
    assert rounded.rounding_ratio < 0.9 and rounded.segments[0].rounding_ratio < 0.9
    assert 0.97 < flat.rounding_ratio < 1.03
    assert rounded.bilabial_frames >= 3
    assert rounded.bilabial_closed == 1.0 and flat.bilabial_closed == 1.0
    assert "rounding_ratio" not in {f.metric for f in check(rounded)}
    assert "rounding_ratio" in {f.metric for f in check(flat)}


def test_no_phones_no_viseme_scores(lip_clip):
    path, feat = lip_clip
    qa = measure_project(path, _split(feat, []), person_photo=face_with_mouth(0))
    assert qa.rounding_ratio is None and qa.bilabial_closed is None and qa.rounded_frames == 0


def test_garment_on_frames_can_be_left_to_the_project_qa(lip_clip, monkeypatch):
    """The take loop judges the garment on the try-on image only, so its QA of a clip
    skips the torso search on frames (the pose model) that `vidpipe qa` does."""
    from vidpipe.qa import garment as garment_qa
    from vidpipe.qa.measure import References
    from vidpipe_tests.qa.test_garment import flat_shot

    path, feat = lip_clip
    segs = _split(feat, [50])
    person = face_with_mouth(0)
    refs = References(descriptor=None, opening=None,
                      garment=garment_qa.garment_colours(flat_shot()), tryon_delta_e=1.0)
    calls = []
    real = garment_qa.image_torso
    monkeypatch.setattr(garment_qa, "image_torso",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    measure_project(path, segs, person_photo=person, references=refs)
    assert len(calls) == 2  # the middle frame of each segment
    calls.clear()
    qa = measure_project(path, segs, person_photo=person, references=refs,
                         garment_on_frames=False)
    assert calls == [] and qa.garment_delta_e_frames is None
    assert qa.garment_delta_e_tryon == 1.0
