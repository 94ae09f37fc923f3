"""`measure_project`: every QA score of a rendered video, in one streaming pass.

Frames are decoded once, in order, through ffmpeg (`media.video.iter_frames`); each frame
is looked at by the per-frame meters (mouth, background luma, frame differences) and then
dropped, so memory does not grow with the video's length. Costlier measurements (identity,
background PSNR at full resolution, garment colour) run on sampled frames only.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vidpipe.media.features import FrameFeatures
from vidpipe.media.video import iter_frames, probe_video
from vidpipe.qa import garment as garment_qa
from vidpipe.qa import identity as identity_qa
from vidpipe.qa import mouth as mouth_qa
from vidpipe.qa import scene as scene_qa
from vidpipe.qa.models import ProjectQA, SegmentQA

log = logging.getLogger(__name__)

PLANNED_CLOSED = 0.02  # features.mouth_open below this: the plan wants the mouth shut
MIN_SYNC_R = 0.3  # below this best correlation there is no sync signal to locate an offset in


@dataclass
class SegmentInput:
    """One rendered segment as it sits in the final video.

    first_frame: index of its first frame in the final video (cumulative clip lengths).
    n_frames:    frames its clip holds; planned_frames: frames timing assigned to it.
    features:    the speech features it was rendered from (features[i] <-> first_frame + i).
    layers_path: the CompositeLayers .npz it was animated from (None: no scene metrics).
    """

    key: str
    first_frame: int
    n_frames: int
    planned_frames: int
    features: FrameFeatures
    layers_path: Path | None = None


ImageLike = str | Path | np.ndarray


def _image(x: ImageLike | None) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x[..., :3], dtype=np.uint8)
    from vidpipe.media.images import load_image

    return load_image(x)


class _Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def add(self, name: str, t0: float) -> float:
        now = time.perf_counter()
        self.t[name] = self.t.get(name, 0.0) + now - t0
        return now


class _LayersCache:
    """BackgroundRef per layers file; consecutive segments usually share one."""

    def __init__(self, size: tuple[int, int], keep: int = 2) -> None:
        self.size, self.keep = size, keep
        self._refs: OrderedDict[Path, scene_qa.BackgroundRef] = OrderedDict()

    def get(self, path: Path | None) -> scene_qa.BackgroundRef | None:
        if path is None:
            return None
        path = Path(path)
        if path not in self._refs:
            from vidpipe.render.embedded.layers import load_layers

            self._refs[path] = scene_qa.background_reference(load_layers(path), self.size)
            while len(self._refs) > self.keep:
                self._refs.popitem(last=False)
        self._refs.move_to_end(path)
        return self._refs[path]


def _sample_frames(first: int, n: int, fps: float, every_s: float) -> list[int]:
    step = max(1, int(round(fps * every_s)))
    out = list(range(first + min(n - 1, step // 2), first + n, step)) if n > 0 else []
    return out or ([first + n // 2] if n > 0 else [])


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def measure_project(video_path: str | Path, segments: Sequence[SegmentInput], *,
                    person_photo: ImageLike, garment_photo: ImageLike | None = None,
                    tryon_image: ImageLike | None = None, audio_duration_s: float | None = None,
                    sample_every_s: float = 1.0) -> ProjectQA:
    """Measure the final video against the inputs it was made from.

    `audio_duration_s` defaults to the duration of the video file's own audio stream.
    Identity and background PSNR are sampled every `sample_every_s` seconds of each segment;
    the garment colour on the middle frame of each segment.
    """
    t_start = time.perf_counter()
    tm = _Timer()
    video_path = Path(video_path)
    segs = sorted(segments, key=lambda s: s.first_frame)
    info = probe_video(video_path)
    W, H, fps, N = info.width, info.height, float(info.fps), int(info.n_frames)
    t = tm.add("probe", t_start)

    # Per-frame plan (what the speech asks for), aligned to video frames.
    energy = np.full(N, np.nan, np.float32)
    voiced = np.full(N, np.nan, np.float32)
    planned_open = np.full(N, np.nan, np.float32)
    seg_of = np.full(N, -1, np.int32)
    for k, s in enumerate(segs):
        a, b = max(0, s.first_frame), min(N, s.first_frame + s.n_frames)
        seg_of[a:b] = k
        m = max(0, min(b - a, s.features.n_frames - (a - s.first_frame)))
        off = a - s.first_frame
        energy[a:a + m] = s.features.energy[off:off + m]
        voiced[a:a + m] = s.features.voiced[off:off + m]
        planned_open[a:a + m] = s.features.mouth_open[off:off + m]
    samples = {f for s in segs for f in _sample_frames(s.first_frame, s.n_frames, fps,
                                                        sample_every_s) if 0 <= f < N}
    middles = {s.first_frame + s.n_frames // 2: k for k, s in enumerate(segs)
               if s.n_frames > 0 and 0 <= s.first_frame + s.n_frames // 2 < N}

    # References from the inputs.
    person = _image(person_photo)
    ref_desc = identity_qa.face_descriptor(person)
    ref_open = mouth_qa.reference_opening(person)
    t = tm.add("reference_photo", t)
    garment_ref = None
    tryon_de = None
    if garment_photo is not None:
        garment_ref = garment_qa.garment_colours(_image(garment_photo))
        if garment_ref is not None and tryon_image is not None:
            tryon = _image(tryon_image)
            mask = garment_qa.image_torso(tryon)
            if mask is not None:
                tryon_de = garment_qa.garment_delta_e(garment_ref, tryon, mask)
        t = tm.add("garment", t)

    # The streaming pass.
    small = scene_qa.small_size(W, H)
    layers = _LayersCache((W, H))
    opening = np.full(N, np.nan, np.float32)
    diff_all = np.full(N, np.nan, np.float32)  # mean |luma_t - luma_{t-1}| where it moves
    bg_luma = np.full(N, np.nan, np.float32)
    bg_diff = np.full(N, np.nan, np.float32)
    sse = np.zeros(len(segs))
    nvals = np.zeros(len(segs), np.int64)
    ident: list[list[float]] = [[] for _ in segs]
    garment_frames: list[float | None] = [None] * len(segs)
    seen = 0
    prev = None
    with mouth_qa.MouthMeter() as meter:
        for i, frame in enumerate(iter_frames(video_path)):
            seen += 1
            if i >= N:  # more frames than probed (should not happen); measure what we know
                break
            t = time.perf_counter()
            k = int(seg_of[i])
            ref = layers.get(segs[k].layers_path) if k >= 0 else None
            t = tm.add("layers", t)
            pts = meter.points(frame, ref.person_box if ref is not None else None)
            if pts is not None:
                opening[i] = mouth_qa.mouth_opening(pts)
            t = tm.add("mouth", t)
            cur = scene_qa.small_luma(frame, small)
            if prev is not None:
                change = np.abs(cur - prev)
                # Joins are judged where things move (person + shadow): on the whole frame
                # a jump of a small figure would drown in the static background.
                active = ref is not None and not ref.small_mask.all()
                diff_all[i] = float(change[~ref.small_mask].mean() if active else change.mean())
            if ref is not None and ref.small_mask.any():
                bg_luma[i] = float(cur[ref.small_mask].mean())
                if prev is not None and i > segs[k].first_frame:
                    bg_diff[i] = float(change[ref.small_mask].mean())
            prev = cur
            t = tm.add("temporal", t)
            if i in samples and k >= 0:
                if ref is not None:
                    e, n = scene_qa.masked_sse(frame, ref.background, ref.mask)
                    sse[k] += e
                    nvals[k] += n
                    t = tm.add("psnr", t)
                if ref_desc is not None:
                    box = None
                    if pts is not None:
                        x0, y0 = pts.min(axis=0)
                        x1, y1 = pts.max(axis=0)
                        box = (float(x0), float(y0), float(x1), float(y1))
                    d = identity_qa.face_descriptor(frame, box)
                    if d is not None:
                        ident[k].append(identity_qa.distance(d, ref_desc))
                    t = tm.add("identity", t)
            if i in middles and garment_ref is not None:
                kk = middles[i]
                mref = layers.get(segs[kk].layers_path)
                mask = garment_qa.image_torso(frame, mref.person_box if mref else None)
                if mask is not None:
                    garment_frames[kk] = garment_qa.garment_delta_e(garment_ref, frame, mask)
                t = tm.add("garment", t)
    n_seen = min(seen, N)

    # Lip-sync scores.
    t = time.perf_counter()
    valid = np.isfinite(opening) & np.isfinite(voiced)
    speech = valid & (np.nan_to_num(voiced) > mouth_qa.SPEECH_VOICED)
    silent = valid & (np.nan_to_num(voiced, nan=1.0) < mouth_qa.SILENT_VOICED)
    closed_plan = np.nan_to_num(planned_open, nan=1.0) < PLANNED_CLOSED
    thr = mouth_qa.closed_threshold(opening, silent, closed_plan, ref_open)

    def sync(mask: np.ndarray) -> tuple[float | None, int | None]:
        r0 = mouth_qa.lagged_corr(opening, energy, mask, 0)
        lag, rbest = mouth_qa.best_lag(opening, energy, mask)
        return r0, (lag if rbest is not None and rbest >= MIN_SYNC_R else None)

    def closed_share(mask: np.ndarray) -> float | None:
        if thr is None or not mask.any():
            return None
        return float(np.mean(opening[mask] <= thr))

    seg_qa: list[SegmentQA] = []
    for k, s in enumerate(segs):
        inseg = seg_of == k
        r0, lag = sync(speech & inseg)
        frames = int(np.count_nonzero(inseg[:n_seen]))
        a, b = max(0, s.first_frame), min(N, s.first_frame + s.n_frames)
        luma_std, fdiff = scene_qa.flicker(bg_luma[a:b][np.isfinite(bg_luma[a:b])],
                                           bg_diff[a:b][np.isfinite(bg_diff[a:b])])
        jd = jr = None
        if k > 0 and 0 < a < n_seen:
            pa, pb = max(0, segs[k - 1].first_frame), a
            inside = np.concatenate([diff_all[pa + 1:pb], diff_all[a + 1:b]])
            inside = inside[np.isfinite(inside)]
            jd = float(diff_all[a])
            jr = scene_qa.join_ratio(jd, inside)
        seg_qa.append(SegmentQA(
            key=s.key, first_frame=s.first_frame, frames=frames,
            planned_frames=s.planned_frames, frame_error=frames - s.planned_frames,
            face_found=_r(float(np.mean(np.isfinite(opening[a:b]))) if b > a else 0.0, 3),
            speech_frames=int(np.count_nonzero(speech & inseg)),
            silent_frames=int(np.count_nonzero(silent & inseg)),
            lipsync_corr=_r(r0, 3), silent_closed=_r(closed_share(silent & inseg), 3),
            av_offset=lag,
            identity_mean=_r(float(np.mean(ident[k])) if ident[k] else None, 3),
            identity_max=_r(max(ident[k]) if ident[k] else None, 3),
            identity_samples=len(ident[k]),
            garment_delta_e=_r(garment_frames[k], 2),
            background_psnr=_r(scene_qa.psnr(sse[k], int(nvals[k])), 2),
            flicker_luma_std=_r(luma_std, 3), flicker_diff=_r(fdiff, 3),
            join_diff=_r(jd, 3), join_ratio=_r(jr, 3)))

    r0, lag = sync(speech)
    all_ident = [v for vals in ident for v in vals]
    luma_std, fdiff = scene_qa.flicker(bg_luma[np.isfinite(bg_luma)], bg_diff[np.isfinite(bg_diff)])
    g = [v for v in garment_frames if v is not None]
    joins = [s.join_ratio for s in seg_qa if s.join_ratio is not None]
    audio_s = audio_duration_s if audio_duration_s is not None else info.audio_duration_s
    video_s = n_seen / fps
    tm.add("scores", t)
    qa = ProjectQA(
        video=str(video_path), width=W, height=H, fps=fps, n_frames=n_seen,
        video_duration_s=round(video_s, 4),
        audio_duration_s=_r(audio_s, 4),
        duration_error_frames=_r((video_s - audio_s) * fps, 2) if audio_s is not None else None,
        segments=seg_qa,
        lipsync_corr=_r(r0, 3), silent_closed=_r(closed_share(silent), 3), av_offset=lag,
        closed_threshold=_r(thr, 4),
        identity_mean=_r(float(np.mean(all_ident)) if all_ident else None, 3),
        identity_max=_r(max(all_ident) if all_ident else None, 3),
        identity_trend=_r(identity_qa.trend([s.identity_mean for s in seg_qa]), 4),
        reference_face_found=ref_desc is not None,
        garment_delta_e_tryon=_r(tryon_de, 2),
        garment_delta_e_frames=_r(float(np.mean(g)) if g else None, 2),
        background_psnr=_r(scene_qa.psnr(float(sse.sum()), int(nvals.sum())), 2),
        flicker_luma_std=_r(luma_std, 3), flicker_diff=_r(fdiff, 3),
        join_ratio_max=_r(max(joins) if joins else None, 3),
        measure_s=round(time.perf_counter() - t_start, 3),
        timings={k: round(v, 3) for k, v in tm.t.items()})
    if n_seen != N:
        log.warning("measure_project: decoded %d frames of %s, probe said %d", seen, video_path, N)
    return qa
