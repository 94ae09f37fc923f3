"""ClipWriter / iter_frames / probe_video / concat_with_audio / previews."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from vidpipe.errors import StageError
from vidpipe.media.video import (ClipWriter, FFmpegError, concat_with_audio, contact_sheet,
                                 copy_clip, encode_aac, first_frame, iter_frames, probe_video,
                                 probe_videos, thumbnail_png)

W, H, FPS = 160, 90, 25


def _frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 0] = (i * 7) % 256
    f[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    f[..., 2] = 128
    return f


def _write(path: Path, n: int, start: int = 0, **kw) -> Path:
    with ClipWriter(path, (W, H), FPS, **kw) as w:
        for i in range(n):
            w.write(_frame(start + i))
    assert w.frames_written == n
    return path


def _wav(path: Path, seconds: float, sr: int = 48000) -> Path:
    t = np.arange(int(round(seconds * sr))) / sr
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def test_clipwriter_roundtrip(tmp_path):
    p = _write(tmp_path / "a.mp4", 30)
    info = probe_video(p)
    assert (info.width, info.height, info.n_frames) == (W, H, 30)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.fps == pytest.approx(FPS)
    assert info.duration_s == pytest.approx(30 / FPS)
    assert info.audio_codec is None
    frames = list(iter_frames(p))
    assert len(frames) == 30
    assert frames[0].shape == (H, W, 3) and frames[0].dtype == np.uint8
    # Red channel encodes the frame index: lossy but close.
    assert abs(int(frames[20][45, 80, 0]) - 140) <= 4
    assert [f.name for f in tmp_path.iterdir()] == ["a.mp4"]


def test_clipwriter_odd_size_is_padded(tmp_path):
    with ClipWriter(tmp_path / "o.mp4", (161, 91), FPS) as w:
        for i in range(5):
            w.write(_frame(i, 161, 91))
    info = probe_video(tmp_path / "o.mp4")
    assert (info.width, info.height, info.n_frames) == (162, 92, 5)


def test_clipwriter_streams_in_constant_memory(tmp_path):
    n, w, h = 2000, 128, 72
    frame = np.full((h, w, 3), 90, np.uint8)
    tracemalloc.start()
    try:
        with ClipWriter(tmp_path / "long.mp4", (w, h), FPS, preset="ultrafast") as wr:
            for i in range(n):
                frame[:, :, 0] = i % 256
                wr.write(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # all frames would be 55 MB
    assert probe_video(tmp_path / "long.mp4").n_frames == n


def test_clipwriter_exception_leaves_no_file(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(KeyError):
        with ClipWriter(out, (W, H), FPS) as w:
            w.write(_frame(0))
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_clipwriter_ffmpeg_failure_is_reported(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(FFmpegError) as err:
        with ClipWriter(out, (W, H), FPS, preset="no-such-preset") as w:
            for i in range(50):
                w.write(_frame(i))
    assert "preset" in str(err.value).lower()
    assert list(tmp_path.iterdir()) == []


def test_clipwriter_rejects_wrong_frames(tmp_path):
    with pytest.raises(ValueError):
        with ClipWriter(tmp_path / "w.mp4", (W, H), FPS) as w:
            w.write(np.zeros((H + 2, W, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_first_frame_is_the_first_frame_scaled(tmp_path):
    p = _write(tmp_path / "a.mp4", 10, start=3)
    small = first_frame(p, (80, 46))
    assert small.shape == (46, 80, 3)
    full = next(iter_frames(p))
    ref = cv2.resize(full, (80, 46), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - ref.astype(int)).mean() < 3
    with pytest.raises(FFmpegError):
        first_frame(tmp_path / "missing.mp4", (8, 8))


def test_iter_frames_can_stop_early(tmp_path):
    p = _write(tmp_path / "a.mp4", 40)
    it = iter_frames(p)
    first = next(it)
    it.close()
    assert first.shape == (H, W, 3)


def test_concat_with_audio_pads_to_the_audio(tmp_path):
    a = _write(tmp_path / "a.mp4", 30, 0)
    b = _write(tmp_path / "b.mp4", 23, 30)
    wav = _wav(tmp_path / "s.wav", 2.3)  # 57.5 frames -> 58
    out = tmp_path / "final.mp4"
    info = concat_with_audio([a, b], wav, out, fps=FPS)
    probed = probe_video(out)
    assert probed.n_frames == info.n_frames == 58  # 53 frames + 5 copies of the last
    assert probed.video_codec == "h264" and probed.audio_codec == "aac"
    assert abs(probed.duration_s - 2.3) <= 1 / FPS
    assert abs(probed.audio_duration_s - 2.3) <= 1 / FPS
    frames = list(iter_frames(out))
    reds = [int(f[45, 80, 0]) for f in frames]
    expected = [(i * 7) % 256 for i in range(53)] + [(52 * 7) % 256] * 5
    assert max(abs(r - e) for r, e in zip(reds, expected)) <= 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "final.mp4",
                                                          "s.wav"]


def test_concat_exact_length_keeps_every_frame(tmp_path):
    clips = [_write(tmp_path / f"c{k}.mp4", n, 10 * k) for k, n in enumerate((25, 25, 10))]
    wav = _wav(tmp_path / "s.wav", 60 / FPS)
    info = concat_with_audio(clips, wav, tmp_path / "f.mp4", fps=FPS)
    assert info.n_frames == 60
    assert abs(info.duration_s - info.audio_duration_s) <= 1 / FPS


def test_concat_copies_speech_already_encoded(tmp_path):
    clips = [_write(tmp_path / f"c{k}.mp4", n, 10 * k) for k, n in enumerate((25, 25, 10))]
    wav = _wav(tmp_path / "s.wav", 60 / FPS)
    m4a = encode_aac(wav, tmp_path / "s.m4a")
    info = concat_with_audio(clips, wav, tmp_path / "f.mp4", fps=FPS, audio_aac=m4a)
    assert info.audio_codec == "aac" and info.n_frames == 60
    assert abs(info.audio_duration_s - 60 / FPS) < 1 / 48000
    # copied, not encoded again: the decoded track is the .m4a's, sample for sample
    decoded = [_pcm(p) for p in (tmp_path / "f.mp4", m4a)]
    assert len(decoded[0]) == 2 * 48000 * 60 // FPS and decoded[0] == decoded[1]


def test_concat_refuses_encoded_speech_of_another_length(tmp_path):
    clips = [_write(tmp_path / "a.mp4", 25)]
    wav = _wav(tmp_path / "s.wav", 1.0)
    other = encode_aac(_wav(tmp_path / "short.wav", 0.5), tmp_path / "short.m4a")
    with pytest.raises(StageError, match="short.m4a lasts 0.500 s"):
        concat_with_audio(clips, wav, tmp_path / "f.mp4", fps=FPS, audio_aac=other)
    assert not (tmp_path / "f.mp4").exists()


def test_probe_videos_probes_side_by_side_in_order(tmp_path):
    from vidpipe.media import video

    clips = [_write(tmp_path / f"c{k}.mp4", n, k) for k, n in enumerate((5, 9, 3, 7, 4, 6))]
    known = [probe_video(c) for c in clips]
    _forget_written(video)
    assert probe_videos(clips) == known
    assert [i.n_frames for i in known] == [5, 9, 3, 7, 4, 6]


def _pcm(path: Path) -> bytes:
    import subprocess

    from vidpipe.media.video import ffmpeg_exe

    return subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                           "-f", "s16le", "-"], capture_output=True, check=True).stdout


def test_concat_refuses_video_longer_than_audio(tmp_path):
    a = _write(tmp_path / "a.mp4", 50)
    wav = _wav(tmp_path / "s.wav", 1.0)
    with pytest.raises(StageError):
        concat_with_audio([a], wav, tmp_path / "f.mp4", fps=FPS)
    assert not (tmp_path / "f.mp4").exists()


def test_thumbnail_and_contact_sheet():
    png = thumbnail_png(_frame(3, 640, 360), max_side=128)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (72, 128, 3)
    sheet = contact_sheet([_frame(i) for i in range(7)], cols=3, gap=2)
    assert sheet.shape == (3 * H + 4, 3 * W + 4, 3)
    assert sheet[H + 2 + 10, W + 2 + 10, 0] == _frame(4)[10, 10, 0]


def _forget_written(video) -> None:
    """As if the clips had been written by another process."""
    video._PROBED.clear()
    video._FIRST_FRAMES.clear()


def _count_ffmpeg_runs(monkeypatch) -> list:
    import vidpipe.media.video as video

    calls = []
    for name in ("_ffmpeg_info", "_info_and_frames", "_run"):
        real = getattr(video, name)
        monkeypatch.setattr(video, name, lambda *a, _real=real: calls.append(a) or _real(*a))
    return calls


def test_probe_is_remembered_across_the_rename_and_forgotten_on_rewrite(tmp_path, monkeypatch):
    """A clip is probed by the stage that wrote it, the next stage, the QA and the metadata:
    ffmpeg runs once per file; the atomic rename keeps the file, a rewrite is a new one."""
    import vidpipe.media.video as video

    tmp = _write(tmp_path / "clip.tmp.mp4", 12)
    _forget_written(video)
    calls = []
    real = video._info_and_frames
    monkeypatch.setattr(video, "_info_and_frames", lambda p: calls.append(p) or real(p))
    first = probe_video(tmp)
    final = tmp_path / "clip.mp4"
    tmp.rename(final)
    again = probe_video(final)
    assert again == first and again.n_frames == 12 and len(calls) == 1
    again.n_frames = 0  # callers get their own copy
    assert probe_video(final).n_frames == 12 and len(calls) == 1
    assert first_frame(final, (W, H)).shape == (H, W, 3) and len(calls) == 1
    _write(tmp_path / "new.mp4", 20).replace(final)
    _forget_written(video)
    assert probe_video(final).n_frames == 20 and len(calls) == 2


@pytest.mark.parametrize("fps, n, size, crf", [
    (25, 139, (640, 360), 0), (25, 76, (1280, 720), 12), (24, 50, (101, 77), 12),
    (30000 / 1001, 61, (320, 240), 0), (12.5, 13, (64, 64), 12), (30, 1, (64, 48), 23),
    (29.97, 45, (64, 48), 12)])
def test_a_written_clip_is_known_as_ffmpeg_would_probe_it(tmp_path, monkeypatch, fps, n, size,
                                                          crf):
    """The writer knows what it encoded; what it remembers must be exactly what probing the
    file says (ffmpeg's rounding of rates and durations included), or the next stage and
    the metadata would see another clip than a fresh process does."""
    import vidpipe.media.video as video

    path = tmp_path / "c.mp4"
    with ClipWriter(path, size, fps, crf=crf) as w:
        for i in range(n):
            w.write(_frame(i, *size))
    calls = _count_ffmpeg_runs(monkeypatch)
    known = probe_video(path)
    thumb = first_frame(path, (size[0] // 2 * 2, size[1] // 2 * 2))
    assert calls == []
    assert known == video._probe(path)
    decoded = next(iter_frames(path))[: size[1], : size[0]]
    ref = cv2.resize(decoded, thumb.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(thumb.astype(int) - ref.astype(int)).mean() < 4


def test_a_filtered_clip_is_probed_and_a_copy_is_known(tmp_path, monkeypatch):
    """With a `vf` chain the writer does not know the output size: the file is probed. A
    copy (a segment's take) is known as its source is."""
    path = tmp_path / "big.mp4"
    with ClipWriter(path, (W, H), FPS, vf="scale=320:180") as w:
        for i in range(9):
            w.write(_frame(i))
    calls = _count_ffmpeg_runs(monkeypatch)
    info = probe_video(path)
    assert (info.width, info.height, info.n_frames) == (320, 180, 9) and len(calls) == 1
    copy = copy_clip(path, tmp_path / "take.mp4")
    assert probe_video(copy) == info and len(calls) == 1
    # the kept first frame is the one handed to ffmpeg, before the filter: right aspect
    assert first_frame(copy, (64, 36)).shape == (36, 64, 3) and len(calls) == 1
    # a size of another aspect than the kept frame's is decoded from the file
    assert first_frame(copy, (64, 64)).shape == (64, 64, 3) and len(calls) == 2


def test_probing_what_is_not_a_video_says_so(tmp_path):
    """One ffmpeg run describes the file and counts its frames; without a video stream the
    error says that, with the file's name."""
    wav = _wav(tmp_path / "speech.wav", 0.5)
    with pytest.raises(FFmpegError, match=r"no video stream in .*speech\.wav"):
        probe_video(wav)
    junk = tmp_path / "notes.mp4"
    junk.write_text("not a video")
    with pytest.raises(FFmpegError, match=r"notes\.mp4"):
        probe_video(junk)
    clip = _write(tmp_path / "ok.mp4", 7)
    import vidpipe.media.video as video

    assert video._probe(clip).n_frames == 7
