"""Video I/O through the ffmpeg binary bundled with imageio-ffmpeg.

Everything streams through pipes: frames are written to / read from ffmpeg one at a time,
so memory stays constant whatever the clip length. There is no ffprobe in this environment;
`probe_video` parses ffmpeg's description of the input and counts frames exactly with a
stream-copy pass, in one ffmpeg run.

Outputs are written to a hidden temporary file next to the target and renamed into place
only when ffmpeg succeeded, so a failed or interrupted write never leaves a (partial) file.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np
from pydantic import BaseModel

from vidpipe.errors import StageError
from vidpipe.storage import atomic_path, file_version, publish
from vidpipe.timing import total_frames

_TAIL_CHARS = 2000
# The line of ffmpeg's description of an input that describes its (first) video stream.
_VIDEO_LINE = re.compile(r"Stream #\d+:\d+\S*: Video: (.*)")


class FFmpegError(StageError):
    """ffmpeg exited with an error; the message carries the tail of its stderr."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _tail(text: bytes | str, n: int = _TAIL_CHARS) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return text[-n:]


def _tmp_sibling(path: Path) -> Path:
    """A hidden, unique temp path next to `path` (same filesystem, so rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix or '.mp4'}",
                                dir=path.parent)
    os.close(fd)
    return Path(name)


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg failed ({what}, exit {proc.returncode}): {_tail(proc.stderr)}")
    return proc


class _StderrTail:
    """Drains a pipe in a thread, keeping only the last few KB (no deadlock, bounded memory)."""

    def __init__(self, pipe) -> None:
        self._buf: collections.deque[bytes] = collections.deque(maxlen=64)
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe) -> None:
        for line in iter(pipe.readline, b""):
            self._buf.append(line)
        pipe.close()

    def text(self) -> str:
        self._thread.join(timeout=5)
        return _tail(b"".join(self._buf))


# --------------------------------------------------------------------------------------------
# Writing


class ClipWriter:
    """Streams RGB uint8 frames into ffmpeg -> H.264 yuv420p MP4 (+faststart).

    with ClipWriter(path, (w, h), fps) as w:
        for frame in frames:
            w.write(frame)

    Odd sizes are padded to even (yuv420p needs it) by repeating the last row/column, so
    the file's size is `even_size`. `vf` is an optional ffmpeg filter chain applied before
    encoding (e.g. scaling); then the output size is whatever the chain produces.
    `extra_args` are further ffmpeg output options (e.g. ["-x264-params", "..."]).
    On any exception inside the block, or if ffmpeg fails, no file is left at `path`.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float, *, crf: int = 12,
                 preset: str = "veryfast", vf: str | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] <= 0 or self.size[1] <= 0:
            raise ValueError(f"invalid frame size {size}")
        self.even_size = (self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2)
        self.fps = fps
        self.crf = crf
        self.preset = preset
        self.vf = vf
        self.extra_args = list(extra_args)
        self.frames_written = 0
        self._first: np.ndarray | None = None  # a small copy of frame 0, for thumbnails
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._stderr: _StderrTail | None = None

    # context manager -------------------------------------------------------------------
    def __enter__(self) -> "ClipWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    # ------------------------------------------------------------------------------------
    def open(self) -> None:
        if self._proc is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _tmp_sibling(self.path)
        w, h = self.even_size
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{self.fps}",
               "-i", "pipe:0"]
        if self.vf:
            cmd += ["-vf", self.vf]
        cmd += ["-an", "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
                *self.extra_args,
                "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        self._stderr = _StderrTail(self._proc.stderr)

    def write(self, frame: np.ndarray) -> None:
        if self._proc is None:
            raise RuntimeError("ClipWriter is not open")
        w, h = self.size
        if frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            raise ValueError(f"expected a {h}x{w}x3 uint8 RGB frame, got {frame.shape} "
                             f"{frame.dtype}")
        if self.frames_written == 0:
            self._first = _small_copy(frame)
        if self.even_size != self.size:
            frame = np.pad(frame, ((0, self.even_size[1] - h), (0, self.even_size[0] - w),
                                   (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError):
            self._proc.wait()
            msg = self._stderr.text() if self._stderr else ""
            self._cleanup()
            raise FFmpegError(f"ffmpeg stopped while writing {self.path} "
                              f"(frame {self.frames_written}): {msg}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding and move the file into place. Returns the path."""
        if self._proc is None:
            raise RuntimeError("ClipWriter is not open")
        proc = self._proc
        try:
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        rc = proc.wait()
        msg = self._stderr.text() if self._stderr else ""
        if rc != 0 or self.frames_written == 0:
            self._cleanup()
            why = msg if rc != 0 else "no frames were written"
            raise FFmpegError(f"ffmpeg failed writing {self.path} (exit {rc}): {why}")
        publish(self._tmp, self.path)
        self._proc = None
        self._tmp = None
        self._remember_written()
        return self.path

    def _remember_written(self) -> None:
        """What this writer knows of its file, so that the next stage and the asset's
        metadata need not run ffmpeg twice to learn it. The facts are those `probe_video`
        reads (ffmpeg prints rates to 2 decimals and durations rounded to 1/100 s); with a
        `vf` chain the size and count are the filter's, so the file is probed instead."""
        version = file_version(self.path)
        if self._first is not None:
            _remember(_FIRST_FRAMES, version, self._first, _FIRST_MAX)
        if self.vf is None:
            fps = float(f"{self.fps:.2f}")
            n = self.frames_written
            w, h = self.even_size
            _remember(_PROBED, version, VideoInfo(
                width=w, height=h, fps=fps, n_frames=n, duration_s=n / fps,
                container_duration_s=int(n / self.fps * 100 + 0.5) / 100,
                video_codec="h264", pix_fmt="yuv420p"))

    def abort(self) -> None:
        """Kill ffmpeg and remove the partial output."""
        if self._proc is not None:
            try:
                self._proc.kill()
            except OSError:
                pass
            try:
                self._proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._tmp = None
        self._proc = None


# --------------------------------------------------------------------------------------------
# Probing


class VideoInfo(BaseModel):
    width: int
    height: int
    fps: float
    n_frames: int  # exact: counted with a stream-copy pass
    duration_s: float  # n_frames / fps
    container_duration_s: float | None = None  # the "Duration:" of the container
    video_codec: str
    pix_fmt: str
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_duration_s: float | None = None  # exact: decoded samples / sample rate


def _split_top(s: str) -> list[str]:
    """Split on commas that are not inside parentheses/brackets."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _ffmpeg_info(path: Path) -> str:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    return proc.stderr.decode("utf-8", "replace")


def _info_and_frames(path: Path) -> tuple[str, int | None]:
    """ffmpeg's description of the file, and its video frames counted exactly by a
    stream-copy pass: one ffmpeg run for both (None when there is no video stream)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path),
                           "-map", "0:v:0?", "-c", "copy", "-f", "null", "-", "-nostats",
                           "-progress", "pipe:1"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    text = proc.stderr.decode("utf-8", "replace")
    if not _VIDEO_LINE.search(text):
        return text, None
    frames = re.findall(rb"^frame=(\d+)", proc.stdout, re.M)
    if proc.returncode != 0 or not frames:
        raise FFmpegError(f"could not count frames of {path} (exit {proc.returncode}): "
                          f"{_tail(text)}")
    return text, int(frames[-1])


def _count_audio_samples(path: Path, sample_rate: int) -> int:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "pipe:1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    err = _StderrTail(proc.stderr)
    n = 0
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    if proc.wait() != 0:
        raise FFmpegError(f"ffmpeg could not decode the audio of {path}: {err.text()}")
    return n // 2


# Probes by file version (`storage.file_version`). One clip is probed by the stage that
# wrote it, by the next stage, by the take's QA and by its asset's metadata; each probe is
# an ffmpeg run. Clips this process wrote (ClipWriter) or copied (`copy_clip`) are known
# without one.
_PROBED: collections.OrderedDict[tuple[int, int, int, int], VideoInfo] = (
    collections.OrderedDict())
_PROBED_MAX = 256
# The first frame of clips this process wrote, downscaled, for the thumbnail its asset's
# metadata takes right after (a take's attempts write a few clips in between).
_FIRST_FRAMES: collections.OrderedDict[tuple[int, int, int, int], np.ndarray] = (
    collections.OrderedDict())
_FIRST_MAX = 32  # at most 320 px a side: ~5 MB
_FIRST_SIDE = 320


_CACHE_LOCK = threading.Lock()  # clips are probed side by side (`probe_videos`)


def _remember(cache: collections.OrderedDict, version: tuple, value,
              limit: int = _PROBED_MAX) -> None:
    with _CACHE_LOCK:
        cache[version] = value
        cache.move_to_end(version)
        while len(cache) > limit:
            cache.popitem(last=False)


def _small_copy(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    k = min(1.0, _FIRST_SIDE / max(w, h))
    if k >= 1.0:
        return frame.copy()
    return cv2.resize(frame, (max(1, round(w * k)), max(1, round(h * k))),
                      interpolation=cv2.INTER_AREA)


def copy_clip(src: str | Path, dst: str | Path) -> Path:
    """Copy a clip; what is known of `src` (probe, first frame) is known of the copy."""
    import shutil

    src, dst = Path(src), Path(dst)
    shutil.copyfile(src, dst)
    old, new = file_version(src), file_version(dst)
    if old in _PROBED:
        _remember(_PROBED, new, _PROBED[old].model_copy())
    if old in _FIRST_FRAMES:
        _remember(_FIRST_FRAMES, new, _FIRST_FRAMES[old], _FIRST_MAX)
    return dst


def probe_video(path: str | Path) -> VideoInfo:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    ident = file_version(path)
    with _CACHE_LOCK:
        hit = _PROBED.get(ident)
        if hit is not None:
            _PROBED.move_to_end(ident)
            return hit.model_copy()
    info = _probe(path)
    _remember(_PROBED, ident, info.model_copy())
    return info


def probe_videos(paths: Sequence[str | Path]) -> list[VideoInfo]:
    """`probe_video` of each, in order. Each probe is an ffmpeg run of ~0.05 s that mostly
    waits for the process; a delivery probes every segment that another process wrote, so
    they run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    if len(paths) < 2:
        return [probe_video(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
        return list(pool.map(probe_video, paths))


def _probe(path: Path) -> VideoInfo:
    text, n_frames = _info_and_frames(path)
    vline = _VIDEO_LINE.search(text)
    if vline is None or n_frames is None:
        raise FFmpegError(f"no video stream in {path}: {_tail(text, 600)}")
    fields = _split_top(vline.group(1))
    codec = fields[0].split()[0]
    pix_fmt = fields[1].split("(")[0].strip() if len(fields) > 1 else "unknown"
    width = height = None
    fps = None
    tbr = None
    for f in fields:
        m = re.match(r"^(\d+)x(\d+)", f)
        if m and width is None:
            width, height = int(m.group(1)), int(m.group(2))
        m = re.match(r"^([\d.]+)(k?) fps$", f)
        if m:
            fps = float(m.group(1)) * (1000 if m.group(2) else 1)
        m = re.match(r"^([\d.]+)(k?) tbr$", f)
        if m:
            tbr = float(m.group(1)) * (1000 if m.group(2) else 1)
    fps = fps or tbr
    if width is None or not fps:
        raise FFmpegError(f"could not parse the video stream of {path}: {vline.group(0)}")
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    container = (int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
                 if dur else None)

    audio_codec = sample_rate = audio_dur = None
    aline = re.search(r"Stream #\d+:\d+\S*: Audio: (.*)", text)
    if aline:
        afields = _split_top(aline.group(1))
        audio_codec = afields[0].split()[0]
        for f in afields:
            m = re.match(r"^(\d+) Hz$", f)
            if m:
                sample_rate = int(m.group(1))
        if sample_rate:
            audio_dur = _count_audio_samples(path, sample_rate) / sample_rate
    return VideoInfo(width=width, height=height, fps=fps, n_frames=n_frames,
                     duration_s=n_frames / fps, container_duration_s=container,
                     video_codec=codec, pix_fmt=pix_fmt, audio_codec=audio_codec,
                     audio_sample_rate=sample_rate, audio_duration_s=audio_dur)


# --------------------------------------------------------------------------------------------
# Reading


def _video_size(path: Path) -> tuple[int, int]:
    hit = _PROBED.get(file_version(path)) if path.is_file() else None
    if hit is not None:
        return hit.width, hit.height
    text = _ffmpeg_info(path)
    vline = _VIDEO_LINE.search(text)
    if vline is None:
        raise FFmpegError(f"no video stream in {path}: {_tail(text, 600)}")
    for f in _split_top(vline.group(1)):
        m = re.match(r"^(\d+)x(\d+)", f)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise FFmpegError(f"could not parse the size of {path}: {vline.group(0)}")


def first_frame(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """The first frame scaled to `size` (w, h), for thumbnails of clips whose size the
    caller already knows. For a clip this process wrote it is the frame that was encoded
    (no ffmpeg run); otherwise ffmpeg decodes that one frame and nothing else."""
    w, h = int(size[0]), int(size[1])
    small = _FIRST_FRAMES.get(file_version(path)) if Path(path).is_file() else None
    if small is not None and abs(small.shape[1] / small.shape[0] - w / h) < 0.02 * w / h:
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
    proc = _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                 "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={w}:{h}:flags=area",
                 "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], f"reading a frame of {path}")
    if len(proc.stdout) < w * h * 3:
        raise FFmpegError(f"no frame in {path}")
    return np.frombuffer(proc.stdout[: w * h * 3], np.uint8).reshape(h, w, 3)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield every frame of the first video stream as H x W x 3 RGB uint8 (streaming).

    Frames are passed through as decoded (no frame-rate conversion), so the count equals
    `probe_video(path).n_frames`. Closing the generator early stops ffmpeg.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    w, h = _video_size(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "pipe:1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    err = _StderrTail(proc.stderr)
    nbytes = w * h * 3
    finished = False
    try:
        while True:
            buf = proc.stdout.read(nbytes)
            if not buf:
                break
            if len(buf) != nbytes:
                raise FFmpegError(f"truncated frame while reading {path}")
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        finished = True
    finally:
        if not finished and proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise FFmpegError(f"ffmpeg failed reading {path} (exit {rc}): {err.text()}")


# --------------------------------------------------------------------------------------------
# Final assembly


def _concat_list_line(p: Path) -> str:
    s = str(p.resolve()).replace("'", "'\\''")
    return f"file '{s}'\n"


AAC_BITRATE = "192k"
AAC_FRAME = 1024  # samples per AAC frame: what an encoded track may differ from its source


def encode_aac(wav: str | Path, out: str | Path) -> Path:
    """`wav` as AAC in an .m4a, for `concat_with_audio` to copy: the encode is ~1.5 s for a
    minute of speech, and the speech of a project rarely changes between deliveries."""
    wav, out = Path(wav), Path(out)
    with atomic_path(out) as tmp:
        _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i",
              str(wav), "-map", "0:a:0", "-c:a", "aac", "-b:a", AAC_BITRATE, "-f", "mp4",
              str(tmp)], f"encoding {wav} as AAC")
    return out


def concat_with_audio(clips: Sequence[str | Path], audio_wav: str | Path, out: str | Path, *,
                      fps: int, crf: int = 18, preset: str = "fast",
                      audio_aac: str | Path | None = None) -> VideoInfo:
    """Join `clips` (in order, every frame kept) and mux `audio_wav` as AAC 192k.

    `audio_aac`: the same speech already encoded (`encode_aac`), copied instead of encoded;
    the joined file's audio must then still last as long as `audio_wav` (StageError).

    The video is the exact concatenation of all frames of all clips, re-timed to `fps`;
    when it is shorter than the audio the last frame is repeated so the video lasts
    `timing.total_frames(audio samples)` frames (duration within half a frame of the audio).
    A video more than one frame longer than the audio is an upstream error (StageError);
    nothing is ever trimmed. The result is verified (frame count, codecs, duration) and
    returned as `VideoInfo`.
    """
    import soundfile as sf

    clips = [Path(c) for c in clips]
    audio_wav = Path(audio_wav)
    out = Path(out)
    if not clips:
        raise ValueError("concat_with_audio needs at least one clip")
    infos = probe_videos(clips)
    sizes = {(i.width, i.height) for i in infos}
    if len(sizes) != 1:
        raise StageError(f"clips have different sizes {sorted(sizes)}; cannot join them")
    n_sum = sum(i.n_frames for i in infos)

    ainfo = sf.info(str(audio_wav))
    n_target = total_frames(int(ainfo.frames), int(ainfo.samplerate), fps)
    audio_s = ainfo.frames / ainfo.samplerate
    pad = max(0, n_target - n_sum)
    if (n_sum + pad) / fps - audio_s > 1.0 / fps + 1e-9:
        raise StageError(f"the clips hold {n_sum} frames ({n_sum / fps:.3f} s at {fps} fps) but "
                         f"the audio lasts {audio_s:.3f} s ({n_target} frames)")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(out)
    fd, list_name = tempfile.mkstemp(prefix=".concat.", suffix=".txt", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("ffconcat version 1.0\n")
            for c in clips:
                fh.write(_concat_list_line(c))
        # Segments already in the delivery format join by stream copy: no re-encode, no
        # generation loss, and seconds instead of a full encode. Anything else is re-encoded.
        copyable = not pad and all(
            i.video_codec == "h264" and i.pix_fmt == "yuv420p" and round(i.fps) == fps
            for i in infos)
        if copyable:
            video_args = ["-c:v", "copy"]
        else:
            vf = f"setpts=N/({fps}*TB)"
            if pad:
                vf += f",tpad=stop_mode=clone:stop={pad}"
            video_args = ["-vf", vf, "-r", str(fps), "-fps_mode", "cfr", "-c:v", "libx264",
                          "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "concat", "-safe", "0", "-i", list_name,
               "-i", str(audio_aac if audio_aac is not None else audio_wav),
               "-map", "0:v:0", "-map", "1:a:0", *video_args,
               *(["-c:a", "copy"] if audio_aac is not None else
                 ["-c:a", "aac", "-b:a", AAC_BITRATE]),
               "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        _run(cmd, f"joining {len(clips)} clips into {out}")
        info = probe_video(tmp)
        if info.n_frames != n_sum + pad:
            raise StageError(f"joined video has {info.n_frames} frames, expected "
                             f"{n_sum} (+{pad} padding)")
        if info.audio_codec != "aac" or info.video_codec != "h264":
            raise StageError(f"joined video has streams {info.video_codec}/{info.audio_codec}")
        if (audio_aac is not None and info.audio_duration_s is not None
                and abs(info.audio_duration_s - audio_s) * ainfo.samplerate > AAC_FRAME):
            raise StageError(f"the encoded speech {audio_aac} lasts {info.audio_duration_s:.3f} "
                             f"s, its source {audio_wav} {audio_s:.3f} s")
        publish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        Path(list_name).unlink(missing_ok=True)
    return info


# --------------------------------------------------------------------------------------------
# Previews


def thumbnail_png(frame: np.ndarray, max_side: int = 128) -> bytes:
    """PNG bytes of an RGB (or gray) frame, downscaled so its longer side <= max_side."""
    img = np.asarray(frame)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    k = min(1.0, max_side / max(h, w))
    if k < 1.0:
        img = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))),
                         interpolation=cv2.INTER_AREA)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def contact_sheet(frames: Iterable[np.ndarray], cols: int, *, gap: int = 2,
                  fill: int = 0) -> np.ndarray:
    """Tile RGB frames into a grid (row-major); every tile gets the first frame's size."""
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("contact_sheet needs at least one frame")
    cols = max(1, min(int(cols), len(frames)))
    rows = -(-len(frames) // cols)
    h, w = frames[0].shape[:2]
    sheet = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), fill,
                    np.uint8)
    for k, f in enumerate(frames):
        if f.ndim == 2:
            f = np.repeat(f[..., None], 3, axis=2)
        f = f[..., :3]
        if f.shape[:2] != (h, w):
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
        r, c = divmod(k, cols)
        y, x = r * (h + gap), c * (w + gap)
        sheet[y:y + h, x:x + w] = f
    return sheet
