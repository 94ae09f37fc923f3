"""A contact sheet a person can read: one frame per segment, its scores written under it.

Scores that break a bound are written in red, the others in dark grey; the header line
carries the whole-video figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from vidpipe.media.video import contact_sheet as tile
from vidpipe.media.video import iter_frames
from vidpipe.qa.check import check
from vidpipe.qa.measure import SegmentInput
from vidpipe.qa.models import ProjectQA, QABounds, SegmentQA

TILE_W = 360
MIN_SHEET_W = 640
FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE = 0.45
LINE_H = 18
INK = (40, 40, 40)
BAD = (200, 20, 20)
PAPER = (250, 250, 250)


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _lines(s: SegmentQA) -> list[tuple[str, tuple[str, ...]]]:
    """(text, metrics it shows) per line; a line is red when one of its metrics failed."""
    return [
        (f"{s.key}  frames {s.frames}/{s.planned_frames}  face {s.face_found:.0%}",
         ("frame_error",)),
        (f"lip r {_fmt(s.lipsync_corr, '.2f')}  closed {_fmt(s.silent_closed, '.0%')}  "
         f"offset {_fmt(s.av_offset, '+d')}", ("lipsync_corr", "silent_closed", "av_offset")),
        (f"identity {_fmt(s.identity_mean, '.2f')} (max {_fmt(s.identity_max, '.2f')})",
         ("identity",)),
        (f"bg PSNR {_fmt(s.background_psnr, '.1f')} dB  garment dE {_fmt(s.garment_delta_e, '.1f')}",
         ("background_psnr", "garment_delta_e_frames")),
        (f"join {_fmt(s.join_ratio, '.2f')}  flicker {_fmt(s.flicker_luma_std, '.2f')}"
         f"/{_fmt(s.flicker_diff, '.2f')}", ("join_ratio", "flicker_luma_std", "flicker_diff")),
    ]


def _put(img: np.ndarray, text: str, y: int, colour) -> None:
    cv2.putText(img, text, (6, y), FONT, SCALE, colour, 1, cv2.LINE_AA)


def _tile(frame: np.ndarray | None, s: SegmentQA, failed: set[str], size: tuple[int, int]
          ) -> np.ndarray:
    w, h = size
    img = (np.full((h, w, 3), 128, np.uint8) if frame is None
           else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA))
    lines = _lines(s)
    panel = np.full((LINE_H * len(lines) + 8, w, 3), PAPER, np.uint8)
    for n, (text, metrics) in enumerate(lines):
        _put(panel, text, LINE_H * (n + 1), BAD if failed & set(metrics) else INK)
    return np.vstack([img, panel])


def contact_sheet(video: str | Path, segments: Sequence[SegmentInput], qa: ProjectQA,
                  bounds: QABounds | None = None, *, cols: int = 4) -> bytes:
    """PNG bytes: the middle frame of each segment with its scores (failures in red)."""
    segs = sorted(segments, key=lambda s: s.first_frame)
    wanted = {s.first_frame + max(0, s.n_frames) // 2: s.key for s in segs}
    frames: dict[str, np.ndarray] = {}
    tw = min(TILE_W, qa.width)
    th = max(1, round(qa.height * tw / qa.width))
    last = max(wanted) if wanted else -1
    for i, frame in enumerate(iter_frames(video)):
        if i in wanted:
            frames[wanted[i]] = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
        if i >= last:
            break
    failures = check(qa, bounds)
    by_seg: dict[str | None, set[str]] = {}
    for f in failures:
        by_seg.setdefault(f.segment, set()).add(f.metric)
    tiles = [_tile(frames.get(s.key), s, by_seg.get(s.key, set()), (tw, th))
             for s in qa.segments]
    if not tiles:
        raise ValueError("contact_sheet needs at least one segment")
    grid = tile(tiles, cols, gap=4, fill=255)
    if grid.shape[1] < MIN_SHEET_W:  # room for the header lines
        grid = np.pad(grid, ((0, 0), (0, MIN_SHEET_W - grid.shape[1]), (0, 0)),
                      constant_values=255)
    video_bad = by_seg.get(None, set())
    head_lines = [
        (f"{Path(qa.video).name}  {qa.width}x{qa.height} {qa.fps:g} fps  {qa.n_frames} frames  "
         f"{len(qa.segments)} segments  {len(failures)} failed checks", False),
        (f"lip r {_fmt(qa.lipsync_corr, '.2f')}  closed {_fmt(qa.silent_closed, '.0%')}  "
         f"offset {_fmt(qa.av_offset, '+d')}  identity {_fmt(qa.identity_mean, '.2f')} "
         f"(trend {_fmt(qa.identity_trend, '+.3f')}/segment)", False),
        (f"try-on garment dE {_fmt(qa.garment_delta_e_tryon, '.1f')}  bg PSNR "
         f"{_fmt(qa.background_psnr, '.1f')} dB  worst join {_fmt(qa.join_ratio_max, '.2f')}  "
         f"duration {_fmt(qa.duration_error_frames, '+.1f')} frames", bool(video_bad)),
    ]
    head = np.full((LINE_H * len(head_lines) + 8, grid.shape[1], 3), PAPER, np.uint8)
    for n, (text, bad) in enumerate(head_lines):
        _put(head, text, LINE_H * (n + 1), BAD if bad else INK)
    sheet = np.vstack([head, grid])
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
