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
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

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
    visemes:     the viseme class of each frame's phone (`media.phonemes.viseme_frames`;
                 None: no viseme scores).
    """

    key: str
    first_frame: int
    n_frames: int
    planned_frames: int
    features: FrameFeatures
    layers_path: Path | None = None
    visemes: np.ndarray | None = None


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
    """Frames every `every_s` seconds of a segment, the first half a step in; at least one."""
    if n <= 0:
        return []
    step = max(1, int(round(fps * every_s)))
    return list(range(first + min(n - 1, step // 2), first + n, step))


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


@dataclass
class _Plan:
    """What the speech asks for, per video frame (NaN outside the segments' features)."""

    energy: np.ndarray
    voiced: np.ndarray
    planned_open: np.ndarray
    seg_of: np.ndarray  # segment index of each frame, -1 outside every segment
    visemes: np.ndarray  # viseme class of each frame's phone, "" where unknown

    @classmethod
    def build(cls, segs: Sequence[SegmentInput], n: int) -> "_Plan":
        plan = cls(*(np.full(n, np.nan, np.float32) for _ in range(3)),
                   seg_of=np.full(n, -1, np.int32), visemes=np.full(n, "", dtype="<U9"))
        for k, s in enumerate(segs):
            a, b = max(0, s.first_frame), min(n, s.first_frame + s.n_frames)
            plan.seg_of[a:b] = k
            off = a - s.first_frame
            m = max(0, min(b - a, s.features.n_frames - off))
            plan.energy[a:a + m] = s.features.energy[off:off + m]
            plan.voiced[a:a + m] = s.features.voiced[off:off + m]
            plan.planned_open[a:a + m] = s.features.mouth_open[off:off + m]
            if s.visemes is not None:
                mv = max(0, min(b - a, len(s.visemes) - off))
                plan.visemes[a:a + mv] = s.visemes[off:off + mv]
        return plan


@dataclass
class References:
    """Readings of the input photos that every clip of a project is measured against."""

    descriptor: np.ndarray | None  # dlib descriptor of the person photo
    opening: float | None  # mouth opening in the person photo
    garment: garment_qa.GarmentColours | None
    tryon_delta_e: float | None

    def to_json(self) -> str:
        import json

        g = self.garment
        return json.dumps({
            "descriptor": None if self.descriptor is None else self.descriptor.tolist(),
            "opening": self.opening, "tryon_delta_e": self.tryon_delta_e,
            "garment": None if g is None else {"lab": g.lab.tolist(), "share": g.share.tolist()}})

    @classmethod
    def from_json(cls, text: str) -> "References":
        import json

        d = json.loads(text)
        g = d["garment"]
        return cls(descriptor=None if d["descriptor"] is None else np.asarray(d["descriptor"]),
                   opening=d["opening"], tryon_delta_e=d["tryon_delta_e"],
                   garment=None if g is None else garment_qa.GarmentColours(
                       lab=np.asarray(g["lab"]), share=np.asarray(g["share"])))


def _file_key(x: ImageLike | None):
    """(path, mtime, size) for a file, so a cached reading is dropped when the file changes."""
    if x is None:
        return None
    st = Path(x).stat()
    return (str(Path(x).resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _references_of_files(person, garment, tryon) -> References:
    return read_references(*(k[0] if k else None for k in (person, garment, tryon)))


def _references(person_photo, garment_photo, tryon_image) -> References:
    """Readings of the input photos; cached per file, since the take loop measures every
    clip of a project against the same photos."""
    if not any(isinstance(x, np.ndarray) for x in (person_photo, garment_photo, tryon_image)):
        return _references_of_files(*(_file_key(x) for x in (person_photo, garment_photo,
                                                              tryon_image)))
    return read_references(person_photo, garment_photo, tryon_image)


def read_references(person_photo, garment_photo, tryon_image) -> References:
    person = _image(person_photo)
    colours = tryon_de = None
    if garment_photo is not None:
        colours = garment_qa.garment_colours(_image(garment_photo))
        if colours is not None and tryon_image is not None:
            tryon = _image(tryon_image)
            mask = garment_qa.image_torso(tryon)
            if mask is not None:
                tryon_de = garment_qa.garment_delta_e(colours, tryon, mask)
    return References(descriptor=identity_qa.face_descriptor(person),
                       opening=mouth_qa.reference_opening(person), garment=colours,
                       tryon_delta_e=tryon_de)


class _Pass:
    """Everything measured while the frames stream by, one frame at a time."""

    def __init__(self, segs: Sequence[SegmentInput], plan: _Plan, refs: References,
                 size: tuple[int, int], fps: float, n: int, sample_every_s: float,
                 timer: _Timer, frame_hook: Callable[[int, np.ndarray], None] | None = None,
                 garment_on_frames: bool = True) -> None:
        self.segs, self.plan, self.refs, self.tm = segs, plan, refs, timer
        self.frame_hook = frame_hook
        self.small = scene_qa.small_size(*size)
        self.layers = _LayersCache(size)
        self.samples = {f for s in segs for f in _sample_frames(s.first_frame, s.n_frames, fps,
                                                                 sample_every_s) if 0 <= f < n}
        self.middles = {s.first_frame + s.n_frames // 2: k for k, s in enumerate(segs)
                        if s.n_frames > 0 and 0 <= s.first_frame + s.n_frames // 2 < n
                        } if garment_on_frames else {}
        self.opening = np.full(n, np.nan, np.float32)
        self.width = np.full(n, np.nan, np.float32)
        self.change = np.full(n, np.nan, np.float32)  # mean |luma diff| where things move
        self.bg_luma = np.full(n, np.nan, np.float32)
        self.bg_change = np.full(n, np.nan, np.float32)
        self.sse = np.zeros(len(segs))
        self.nvals = np.zeros(len(segs), np.int64)
        self.identity: list[list[float]] = [[] for _ in segs]
        self.garment: list[float | None] = [None] * len(segs)
        self.seen = 0
        self._prev: np.ndarray | None = None

    def run(self, video: Path) -> None:
        n = self.opening.shape[0]
        with mouth_qa.MouthMeter() as meter:
            for i, frame in enumerate(iter_frames(video)):
                if i >= n:  # more frames than probed (should not happen)
                    break
                self.seen += 1
                self._frame(i, frame, meter)
                if self.frame_hook is not None:
                    self.frame_hook(i, frame)

    def _frame(self, i: int, frame: np.ndarray, meter: mouth_qa.MouthMeter) -> None:
        t = time.perf_counter()
        k = int(self.plan.seg_of[i])
        ref = self.layers.get(self.segs[k].layers_path) if k >= 0 else None
        t = self.tm.add("layers", t)
        pts = meter.points(frame, ref.person_box if ref is not None else None)
        if pts is not None:
            self.opening[i] = mouth_qa.mouth_opening(pts)
            self.width[i] = mouth_qa.mouth_width(pts)
        t = self.tm.add("mouth", t)
        self._temporal(i, k, frame, ref)
        t = self.tm.add("temporal", t)
        if i in self.samples and k >= 0:
            if ref is not None:
                e, nv = scene_qa.masked_sse(frame, ref.background, ref.mask)
                self.sse[k] += e
                self.nvals[k] += nv
                t = self.tm.add("psnr", t)
            if self.refs.descriptor is not None:
                box = None
                if pts is not None:
                    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
                    box = (float(x0), float(y0), float(x1), float(y1))
                d = identity_qa.face_descriptor(frame, box)
                if d is not None:
                    self.identity[k].append(identity_qa.distance(d, self.refs.descriptor))
                t = self.tm.add("identity", t)
        if i in self.middles and self.refs.garment is not None:
            kk = self.middles[i]
            mref = self.layers.get(self.segs[kk].layers_path)
            mask = garment_qa.image_torso(frame, mref.person_box if mref else None)
            if mask is not None:
                self.garment[kk] = garment_qa.garment_delta_e(self.refs.garment, frame, mask)
            self.tm.add("garment", t)

    def _temporal(self, i: int, k: int, frame: np.ndarray,
                  ref: scene_qa.BackgroundRef | None) -> None:
        cur = scene_qa.small_luma(frame, self.small)
        bg = ref.small_mask if ref is not None and ref.small_mask.any() else None
        if self._prev is not None:
            change = np.abs(cur - self._prev)
            # Joins are judged where things move (person + shadow): on the whole frame a
            # jump of a small figure would drown in the static background.
            moving = ~ref.small_mask if ref is not None and not ref.small_mask.all() else None
            self.change[i] = float(change[moving].mean() if moving is not None
                                   else change.mean())
            if bg is not None and i > self.segs[k].first_frame:
                self.bg_change[i] = float(change[bg].mean())
        if bg is not None:
            self.bg_luma[i] = float(cur[bg].mean())
        self._prev = cur


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


class _Sync:
    """Lip-sync and viseme scores over any subset of frames."""

    def __init__(self, plan: _Plan, opening: np.ndarray, width: np.ndarray,
                 reference_opening: float | None):
        self.opening, self.energy, self.width = opening, plan.energy, width
        self.visemes = plan.visemes
        valid = np.isfinite(opening) & np.isfinite(plan.voiced)
        voiced = np.nan_to_num(plan.voiced, nan=0.5)
        self.speech = valid & (voiced > mouth_qa.SPEECH_VOICED)
        self.silent = valid & (voiced < mouth_qa.SILENT_VOICED)
        closed_plan = np.nan_to_num(plan.planned_open, nan=1.0) < PLANNED_CLOSED
        self.threshold = mouth_qa.closed_threshold(opening, self.silent, closed_plan,
                                                   reference_opening)

    def scores(self, where: np.ndarray) -> dict:
        speech, silent = self.speech & where, self.silent & where
        r0 = mouth_qa.lagged_corr(self.opening, self.energy, speech, 0)
        lag, rbest = mouth_qa.best_lag(self.opening, self.energy, speech)
        closed = None
        if self.threshold is not None and silent.any():
            closed = float(np.mean(self.opening[silent] <= self.threshold))
        shapes = mouth_qa.viseme_scores(self.width[where], self.opening[where],
                                        self.visemes[where], self.threshold)
        return dict(lipsync_corr=_r(r0, 3), silent_closed=_r(closed, 3),
                    av_offset=lag if rbest is not None and rbest >= MIN_SYNC_R else None,
                    **{k: v if isinstance(v, int) else _r(v, 3) for k, v in shapes.items()})


def _segment_qa(k: int, segs: Sequence[SegmentInput], m: _Pass, sync: _Sync) -> SegmentQA:
    s = segs[k]
    n_seen = m.seen
    a, b = max(0, s.first_frame), min(n_seen, s.first_frame + s.n_frames)
    where = m.plan.seg_of == k
    frames = max(0, b - a)
    luma_std, fdiff = scene_qa.flicker(_finite(m.bg_luma[a:b]), _finite(m.bg_change[a:b]))
    jd = jr = None
    if k > 0 and 0 < a < n_seen:
        pa = max(0, segs[k - 1].first_frame)
        inside = _finite(np.concatenate([m.change[pa + 1:a], m.change[a + 1:b]]))
        beside = _finite(m.change[[a - 1, a + 1]] if a + 1 < n_seen else m.change[[a - 1]])
        jd = float(m.change[a])
        jr = scene_qa.join_ratio(jd, inside, beside)
    ident = m.identity[k]
    return SegmentQA(
        key=s.key, first_frame=s.first_frame, frames=frames, planned_frames=s.planned_frames,
        frame_error=frames - s.planned_frames,
        face_found=_r(float(np.mean(np.isfinite(m.opening[a:b]))) if b > a else 0.0, 3),
        speech_frames=int(np.count_nonzero(sync.speech & where)),
        silent_frames=int(np.count_nonzero(sync.silent & where)),
        **sync.scores(where),
        identity_mean=_r(_mean(ident), 3), identity_max=_r(max(ident) if ident else None, 3),
        identity_samples=len(ident), garment_delta_e=_r(m.garment[k], 2),
        background_psnr=_r(scene_qa.psnr(float(m.sse[k]), int(m.nvals[k])), 2),
        flicker_luma_std=_r(luma_std, 3), flicker_diff=_r(fdiff, 3),
        join_diff=_r(jd, 3), join_ratio=_r(jr, 3))


def measure_project(video_path: str | Path, segments: Sequence[SegmentInput], *,
                    person_photo: ImageLike, garment_photo: ImageLike | None = None,
                    tryon_image: ImageLike | None = None, audio_duration_s: float | None = None,
                    sample_every_s: float = 1.0, references: References | None = None,
                    frame_hook: Callable[[int, np.ndarray], None] | None = None,
                    garment_on_frames: bool = True) -> ProjectQA:
    """Measure the final video against the inputs it was made from.

    `audio_duration_s` defaults to the duration of the video file's own audio stream.
    Identity and background PSNR are sampled every `sample_every_s` seconds of each segment;
    the garment colour on the middle frame of each segment. Photos are paths or RGB arrays;
    `references`, when given, are readings of them made earlier (`read_references`).
    `frame_hook(index, frame)` sees every decoded frame, so a caller that wants some frames
    does not decode the video a second time. `garment_on_frames=False` leaves the garment
    colour of the frames unmeasured (it needs the pose model), for a caller that judges
    the garment on the try-on image only.
    """
    t0 = time.perf_counter()
    tm = _Timer()
    video_path = Path(video_path)
    segs = sorted(segments, key=lambda s: s.first_frame)
    info = probe_video(video_path)
    fps, n = float(info.fps), int(info.n_frames)
    plan = _Plan.build(segs, n)
    t = tm.add("probe", t0)
    refs = references or _references(person_photo, garment_photo, tryon_image)
    tm.add("references", t)

    m = _Pass(segs, plan, refs, (info.width, info.height), fps, n, sample_every_s, tm,
              frame_hook, garment_on_frames)
    m.run(video_path)
    if m.seen != n:
        log.warning("measure_project: decoded %d frames of %s, probe said %d", m.seen,
                    video_path, n)

    t = time.perf_counter()
    sync = _Sync(plan, m.opening, m.width, refs.opening)
    seg_qa = [_segment_qa(k, segs, m, sync) for k in range(len(segs))]
    all_ident = [v for vals in m.identity for v in vals]
    luma_std, fdiff = scene_qa.flicker(_finite(m.bg_luma), _finite(m.bg_change))
    garment_frames = [v for v in m.garment if v is not None]
    joins = [s.join_ratio for s in seg_qa if s.join_ratio is not None]
    audio_s = audio_duration_s if audio_duration_s is not None else info.audio_duration_s
    video_s = m.seen / fps
    tm.add("scores", t)
    return ProjectQA(
        video=str(video_path), width=info.width, height=info.height, fps=fps, n_frames=m.seen,
        video_duration_s=round(video_s, 4), audio_duration_s=_r(audio_s, 4),
        duration_error_frames=_r((video_s - audio_s) * fps, 2) if audio_s is not None else None,
        segments=seg_qa,
        **sync.scores(np.ones(n, bool)), closed_threshold=_r(sync.threshold, 4),
        identity_mean=_r(_mean(all_ident), 3),
        identity_max=_r(max(all_ident) if all_ident else None, 3),
        identity_trend=_r(identity_qa.trend([s.identity_mean for s in seg_qa]), 4),
        reference_face_found=refs.descriptor is not None,
        garment_delta_e_tryon=_r(refs.tryon_delta_e, 2),
        garment_delta_e_frames=_r(_mean(garment_frames), 2),
        background_psnr=_r(scene_qa.psnr(float(m.sse.sum()), int(m.nvals.sum())), 2),
        flicker_luma_std=_r(luma_std, 3), flicker_diff=_r(fdiff, 3),
        join_ratio_max=_r(max(joins) if joins else None, 3),
        measure_s=round(time.perf_counter() - t0, 3),
        timings={k: round(v, 3) for k, v in tm.t.items()})
