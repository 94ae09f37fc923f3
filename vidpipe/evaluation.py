"""`vidpipe eval SAMPLES_DIR`: render every combination of a samples folder and measure it.

A samples folder holds ``people/``, ``garments/``, ``scenes/`` (images) and ``speech/`` (wav;
a ``NAME.txt`` beside ``NAME.wav`` is used as its transcript). Every person x garment x scene x
recording, plus the built-in demo project, is created in one fresh workspace, rendered at the
given size and 25 fps through Dagster (`render_project`, 2 segments at once) and measured with
`vidpipe qa`'s `measure`. One row per combination goes to ``eval.csv`` and ``eval.md`` in the
output folder, and ``eval_grid.png`` shows the middle frame of each video with its key scores
(scores that miss the issue-4 targets in red). A combination that fails (a rejected input, a
failed render) is recorded with its error; the run goes on.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # importing it costs ~1 s; `vidpipe eval --help` should not wait
    from vidpipe.workspace import NewProjectRequest

REPO_FILES = ("dagster.yaml", "workspace.yaml")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".m4a", ".ogg")
FPS = 25

# (column, header, format) of every row; the CSV holds all of them, the tables the scores.
COLUMNS: list[tuple[str, str, str]] = [
    ("name", "combination", "s"),
    ("person", "person", "s"),
    ("garment", "garment", "s"),
    ("scene", "scene", "s"),
    ("speech", "speech", "s"),
    ("status", "status", "s"),
    ("audio_s", "audio s", ".2f"),
    ("segments", "segs", "d"),
    ("render_s", "render s", ".1f"),
    ("rtf", "RTF", ".2f"),
    ("lipsync_r", "lip r", ".2f"),
    ("silent_closed", "closed", ".0%"),
    ("silent_frames", "silent n", "d"),  # silent frames the closed share is measured on
    ("av_offset", "offset", "+d"),
    ("identity_mean", "id mean", ".2f"),
    ("identity_max", "id max", ".2f"),
    ("garment_de", "garm ΔE", ".1f"),
    ("bg_psnr", "bg PSNR", ".1f"),
    ("join_max", "join", ".2f"),
    ("duration_err", "dur err", "+.2f"),
    ("qa_s", "qa s", ".1f"),
    ("n_failed", "n failed", "d"),
    ("failed_checks", "failed checks", "s"),
    ("error", "error", "s"),
    ("video", "video", "s"),
]
TABLE_COLUMNS = ("name", "audio_s", "segments", "render_s", "rtf", "lipsync_r", "silent_closed",
                 "silent_frames", "av_offset", "identity_mean", "identity_max", "garment_de",
                 "bg_psnr", "join_max", "duration_err", "n_failed", "failed_checks")

# The issue-4 targets each score is held to: (column, label, test, bound text).
TARGETS: list[tuple[str, str, object, str]] = [
    ("lipsync_r", "lip-sync r", lambda v: v >= 0.6, ">= 0.6"),
    ("silent_closed", "mouth closed in silence", lambda v: v >= 0.9, ">= 90%"),
    ("av_offset", "A/V offset (frames)", lambda v: abs(v) <= 1, "0 +- 1"),
    ("identity_mean", "identity mean", lambda v: v <= 0.4, "<= 0.4"),
    ("identity_max", "identity max", lambda v: v <= 0.4, "<= 0.4"),
    ("garment_de", "garment ΔE2000 (try-on)", lambda v: v <= 6.0, "<= 6"),
    ("bg_psnr", "background PSNR (dB)", lambda v: v >= 32.0, ">= 32"),
    ("join_max", "worst join ratio", lambda v: v <= 1.5, "<= 1.5"),
    ("duration_err", "duration error (frames)", lambda v: abs(v) <= 1.0, "0 +- 1"),
    ("rtf", "real-time factor", lambda v: v <= 2.0, "<= 2 (issue 4 §3, 2 cores)"),
]
_TARGET = {col: test for col, _, test, _ in TARGETS}


@dataclass
class Combination:
    """One project of the evaluation: the request that creates it (the CLI's `vidpipe new`
    makes the same one) and whether its inputs are the built-in demo's, whose images are
    written into the workspace when the run starts."""

    request: NewProjectRequest
    demo: bool = False

    @property
    def name(self) -> str:
        return self.request.name


@dataclass
class Row:
    values: dict = field(default_factory=dict)
    frame: np.ndarray | None = None  # middle frame of the video, small

    def __getitem__(self, key):
        return self.values.get(key)


# --------------------------------------------------------------------------------------------
# Finding the combinations


def _files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts
                  and not p.name.startswith("."))


def _slug(text: str, n: int) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:n].strip("-") or "x"


def find_combinations(samples: Path, *, demo: bool = True,
                      languages: dict[str, str] | None = None) -> list[Combination]:
    """Every person x garment x scene x speech of the samples folder, then the demo.
    `languages` maps a speech file's name (or stem) to its language; the rest are English."""
    from vidpipe.workspace import NewProjectRequest

    languages = languages or {}
    samples = Path(samples)
    people = _files(samples / "people", IMAGE_EXTS)
    garments = _files(samples / "garments", IMAGE_EXTS)
    scenes = _files(samples / "scenes", IMAGE_EXTS)
    speech = _files(samples / "speech", AUDIO_EXTS)
    combos = []
    for p in people:
        for g in garments:
            for s in scenes:
                for a in speech:
                    k = len(combos) + 1
                    name = (f"c{k:02d}-{_slug(p.stem, 10)}-{_slug(g.stem, 10)}-"
                            f"{_slug(s.stem, 14)}-{_slug(a.stem, 14)}")[:64]
                    txt = a.with_suffix(".txt")
                    lang = languages.get(a.name, languages.get(a.stem, "en"))
                    combos.append(Combination(NewProjectRequest(
                        name, p, g, s, a, txt if txt.is_file() else None, language=lang)))
    if demo:
        from vidpipe.demo.inputs import SPEECH, TRANSCRIPT

        # The demo images are written into the workspace when the run starts.
        combos.append(Combination(NewProjectRequest("demo", Path("person.png"),
                                                    Path("garment.png"), Path("scene.jpg"),
                                                    SPEECH, TRANSCRIPT), demo=True))
    return combos


# --------------------------------------------------------------------------------------------
# One combination


def _middle_frame(video: Path, n_frames: int, width: int) -> np.ndarray | None:
    import cv2

    from vidpipe.media.video import iter_frames

    want = max(0, n_frames // 2)
    for i, frame in enumerate(iter_frames(video)):
        if i >= want:
            h = max(1, round(frame.shape[0] * width / frame.shape[1]))
            return cv2.resize(frame, (width, h), interpolation=cv2.INTER_AREA)
    return None


def _failed_summary(failures) -> str:
    counts: dict[str, int] = {}
    for f in failures:
        counts[f.metric] = counts.get(f.metric, 0) + 1
    return ", ".join(m if n == 1 else f"{m} x{n}" for m, n in sorted(counts.items()))


def evaluate_one(ws, combo: Combination, instance, output, *, jobs: int = 2,
                 tile_width: int = 320, say=print) -> Row:
    """Create, render and measure one combination; never raises (errors land in the row)."""
    from vidpipe.errors import VidpipeError
    from vidpipe.qa.project_qa import measure
    from vidpipe.render import steps
    from vidpipe.render.runner import render_project
    from vidpipe.workspace import create_project

    req = combo.request
    row = Row({"name": req.name, "person": req.person.name, "garment": req.garment.name,
               "scene": req.scene.name, "speech": req.audio.name, "status": "error",
               "error": ""})
    stage = "create"
    try:
        create_project(ws, dataclasses.replace(req, output=output))
        stage = "render"
        report = render_project(ws, combo.name, instance, jobs=jobs)
        project = ws.project(combo.name)
        row.values["render_s"] = report.seconds
        try:
            analysis = steps.load_analysis(project)
            row.values["audio_s"] = analysis.duration_s
            row.values["segments"] = len(analysis.segments)
            row.values["rtf"] = report.seconds / analysis.duration_s
        except Exception:  # noqa: BLE001 - the analysis is only needed for the RTF
            pass
        if not report.ok:
            failed = "; ".join(f"{k}: {v}" for k, v in report.failed.items())
            raise VidpipeError(f"segments failed: {failed or 'no video delivered'}")
        row.values["video"] = str(project.video_path)
        stage = "qa"
        outcome = measure(project)
        qa = outcome.qa
        silent_n = sum(s.silent_frames for s in qa.segments)
        row.values.update(
            lipsync_r=qa.lipsync_corr, av_offset=qa.av_offset, silent_frames=silent_n,
            # a share of fewer silent frames than the QA judges says nothing (c13: 1 frame)
            silent_closed=(qa.silent_closed
                           if silent_n >= project.spec.qa.min_silent_frames else None),
            identity_mean=qa.identity_mean, identity_max=qa.identity_max,
            garment_de=qa.garment_delta_e_tryon, bg_psnr=qa.background_psnr,
            join_max=qa.join_ratio_max, duration_err=qa.duration_error_frames,
            qa_s=qa.measure_s, n_failed=len(outcome.failures),
            failed_checks=_failed_summary(outcome.failures))
        if qa.audio_duration_s and row["rtf"] is None:
            row.values["audio_s"] = qa.audio_duration_s
            row.values["rtf"] = report.seconds / qa.audio_duration_s
        row.values["status"] = "ok"
        stage = "frame"
        row.frame = _middle_frame(project.video_path, qa.n_frames, tile_width)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one bad input must not stop the run
        if stage == "frame":
            say(f"    (no middle frame: {type(exc).__name__}: {exc})")
        else:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            row.values["error"] = f"{stage}: {type(exc).__name__}: {msg}"[:400]
            if not isinstance(exc, VidpipeError):
                say(traceback.format_exc(limit=3).rstrip())
    return row


# --------------------------------------------------------------------------------------------
# Output


def _fmt(v, spec: str) -> str:
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if spec == "s":
        return str(v)
    try:
        return format(int(v) if spec.endswith("d") else float(v), spec)
    except (TypeError, ValueError):
        return str(v)


_SPEC = {c: s for c, _, s in COLUMNS}
_HEAD = {c: h for c, h, _ in COLUMNS}


def text_table(rows: list[Row]) -> str:
    cols = list(TABLE_COLUMNS) + ["error"] * any(r["error"] for r in rows)
    cells = [[_HEAD[c] for c in cols]] + [[_fmt(r[c], _SPEC[c]) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    out = []
    for n, line in enumerate(cells):
        out.append("  ".join(x.ljust(w) if i in (0, len(cols) - 1) else x.rjust(w)
                             for i, (x, w) in enumerate(zip(line, widths))).rstrip())
        if n == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def summary(rows: list[Row]) -> list[dict]:
    """Mean, min, max and how many rows meet the target, per score (measured rows only)."""
    out = []
    for col, label, test, bound in TARGETS:
        vals = [float(r[col]) for r in rows if r[col] is not None and r[col] != ""]
        if not vals:
            out.append({"score": label, "col": col, "target": bound, "n": 0})
            continue
        out.append({"score": label, "col": col, "target": bound, "n": len(vals),
                    "mean": float(np.mean(vals)), "min": min(vals), "max": max(vals),
                    "pass": sum(bool(test(v)) for v in vals)})
    return out


def _summary_lines(rows: list[Row], md: bool) -> list[str]:
    lines = []
    if md:
        lines += ["| score | target | mean | min | max | meet target |",
                  "|---|---|---|---|---|---|"]
    else:
        lines += [f"{'score':26} {'target':>10} {'mean':>8} {'min':>8} {'max':>8}  meet target"]
    for s in summary(rows):
        spec = _SPEC[s["col"]].replace("+", "")
        if s["col"] in ("av_offset", "n_failed"):
            spec = "+.2f"
        cells = ([_fmt(s.get(k), spec) for k in ("mean", "min", "max")] if s["n"]
                 else ["-", "-", "-"])
        meet = f"{s['pass']}/{s['n']}" if s["n"] else "-"
        if md:
            lines.append(f"| {s['score']} | {s['target']} | " + " | ".join(cells) + f" | {meet} |")
        else:
            lines.append(f"{s['score']:26} {s['target'].split(' (')[0]:>10} "
                         + " ".join(f"{c:>8}" for c in cells) + f"  {meet}")
    return lines


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([c for c, _, _ in COLUMNS])
        for r in rows:
            w.writerow(["" if r[c] is None else (f"{r[c]:.4f}" if isinstance(r[c], float)
                                                 else r[c]) for c, _, _ in COLUMNS])


def markdown(rows: list[Row], *, title: str, notes: list[str]) -> str:
    cols = list(TABLE_COLUMNS) + ["error"] * any(r["error"] for r in rows)
    lines = [f"# {title}", "", *notes, "",
             "| " + " | ".join(_HEAD[c] for c in cols) + " |",
             "|" + "|".join("---" if c in ("name", "failed_checks", "error") else "---:"
                            for c in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            text = _fmt(r[c], _SPEC[c]).replace("|", "/")
            test = _TARGET.get(c)
            if test is not None and r[c] is not None and not test(float(r[c])):
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Bold: misses the issue-4 target. Summary over the measured combinations:", ""]
    lines += _summary_lines(rows, md=True)
    return "\n".join(lines) + "\n"


INK = (40, 40, 40)
BAD = (200, 20, 20)
PAPER = (250, 250, 250)


def _grid_tile(r: Row, width: int, height: int) -> np.ndarray:
    import cv2

    font, scale, lh = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 15
    if r.frame is not None:
        img = cv2.resize(r.frame, (width, height), interpolation=cv2.INTER_AREA)
    else:
        img = np.full((height, width, 3), 110, np.uint8)
        cv2.putText(img, "no video", (8, height // 2), font, 0.6, (255, 255, 255), 1,
                    cv2.LINE_AA)

    def bad(*cols) -> bool:
        return any(r[c] is not None and _TARGET[c](float(r[c])) is False for c in cols)

    lines: list[tuple[str, bool]] = [(r["name"], False)]
    if r["status"] == "ok":
        lines += [
            (f"RTF {_fmt(r['rtf'], '.2f')} ({_fmt(r['render_s'], '.0f')} s)  "
             f"dur {_fmt(r['duration_err'], '+.1f')} fr", bad("rtf", "duration_err")),
            (f"lip r {_fmt(r['lipsync_r'], '.2f')}  closed {_fmt(r['silent_closed'], '.0%')}  "
             f"off {_fmt(r['av_offset'], '+d')}", bad("lipsync_r", "silent_closed", "av_offset")),
            (f"identity {_fmt(r['identity_mean'], '.2f')} (max {_fmt(r['identity_max'], '.2f')})",
             bad("identity_mean", "identity_max")),
            (f"garm dE {_fmt(r['garment_de'], '.1f')}  bg {_fmt(r['bg_psnr'], '.1f')} dB  "
             f"join {_fmt(r['join_max'], '.2f')}", bad("garment_de", "bg_psnr", "join_max")),
            (f"{r['n_failed']} failed checks", bool(r["n_failed"])),
        ]
    else:
        err = str(r["error"] or "error")
        chunk = max(10, width // 7)
        lines += [(err[i:i + chunk], True) for i in range(0, min(len(err), 4 * chunk), chunk)]
    panel = np.full((lh * 6 + 8, width, 3), PAPER, np.uint8)
    for n, (text, is_bad) in enumerate(lines[:6]):
        while len(text) > 4 and cv2.getTextSize(text, font, scale, 1)[0][0] > width - 8:
            text = text[:-2] + "~"  # long names: cut to the tile, marked
        cv2.putText(panel, text, (5, lh * (n + 1)), font, scale, BAD if is_bad else INK, 1,
                    cv2.LINE_AA)
    return np.vstack([img, panel])


def grid_png(rows: list[Row], path: Path, *, title: str, tile_width: int = 320,
             aspect: float = 16 / 9) -> None:
    """One PNG: the middle frame of every combination with its key scores."""
    import cv2

    from vidpipe.media.video import contact_sheet

    th = max(1, round(tile_width / aspect))
    tiles = [_grid_tile(r, tile_width, th) for r in rows]
    cols = min(len(tiles), 4 if len(tiles) <= 16 else 5)
    grid = contact_sheet(tiles, cols, gap=4, fill=255)
    width = max(grid.shape[1], 480)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    lines = [""]
    for word in title.split():  # wrap the title to the picture's width
        trial = f"{lines[-1]} {word}".strip()
        if lines[-1] and cv2.getTextSize(trial, font, scale, 1)[0][0] > width - 12:
            lines.append(word)
        else:
            lines[-1] = trial
    head = np.full((20 * len(lines) + 8, width, 3), PAPER, np.uint8)
    for n, text in enumerate(lines):
        cv2.putText(head, text, (6, 18 + 20 * n), font, scale, INK, 1, cv2.LINE_AA)
    if grid.shape[1] < head.shape[1]:
        grid = np.pad(grid, ((0, 0), (0, head.shape[1] - grid.shape[1]), (0, 0)),
                      constant_values=255)
    sheet = np.vstack([head, grid])
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    path.write_bytes(buf.tobytes())


# --------------------------------------------------------------------------------------------
# The command


def _repo_file(name: str) -> Path:
    """dagster.yaml / workspace.yaml of this checkout (else of the current workspace)."""
    here = Path(__file__).resolve().parents[1] / name
    if here.is_file():
        return here
    from vidpipe.workspace import find_workspace

    return find_workspace() / name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidpipe eval", description=__doc__.splitlines()[0])
    p.add_argument("samples", help="folder with people/, garments/, scenes/, speech/")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--out", help="output folder (default: a new vidpipe-eval-* temp folder)")
    p.add_argument("--limit", type=int, help="evaluate only the first N combinations")
    p.add_argument("--no-demo", action="store_true", help="leave out the built-in demo")
    p.add_argument("--jobs", type=int, default=2, help="segments rendered at once (default 2)")
    p.add_argument("--language", action="append", default=[], metavar="SPEECH=CODE",
                   help="language of one speech file, e.g. chinese_poem1.wav=zh (default en)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vidpipe.project import OutputSettings

    samples = Path(args.samples).resolve()
    try:
        output = OutputSettings(width=args.width, height=args.height, fps=FPS)
    except ValueError as exc:
        print(f"error: output settings: {str(exc).splitlines()[-1].strip()}", file=sys.stderr)
        return 2
    languages = {}
    for item in args.language:
        name, sep, code = item.partition("=")
        if not sep or not name or not code:
            print(f"error: --language {item!r}: expected SPEECH=CODE", file=sys.stderr)
            return 2
        languages[name] = code
    combos = find_combinations(samples, demo=not args.no_demo, languages=languages)
    if args.limit is not None:
        combos = combos[:max(0, args.limit)]
    if not combos:
        print(f"error: {samples}: no combinations (need people/, garments/, scenes/ and "
              f"speech/ with files in each)", file=sys.stderr)
        return 2

    out = Path(args.out).resolve() if args.out else Path(tempfile.mkdtemp(prefix="vidpipe-eval-"))
    out.mkdir(parents=True, exist_ok=True)
    root = out / time.strftime("ws-%Y%m%d-%H%M%S")
    while root.exists():
        root = root.with_name(root.name + "x")
    root.mkdir()
    for name in REPO_FILES:
        shutil.copy(_repo_file(name), root / name)
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "VIDPIPE_WORKSPACE")}
    os.environ["DAGSTER_HOME"] = os.environ["VIDPIPE_WORKSPACE"] = str(root)

    def say(text: str) -> None:
        print(text, flush=True)

    rows: list[Row] = []
    started = time.perf_counter()
    try:
        import dagster as dg

        from vidpipe.workspace import Workspace

        ws = Workspace(root)
        say(f"vidpipe eval: {len(combos)} combinations from {samples} at "
            f"{output.width}x{output.height}@{FPS}, jobs={args.jobs}; workspace {root}")
        if any(c.demo for c in combos):
            from vidpipe.demo.images import write_demo_inputs

            files = write_demo_inputs(root / "demo-inputs")
            for c in combos:
                if c.demo:
                    c.request = dataclasses.replace(c.request, person=files["person"],
                                                    garment=files["garment"],
                                                    scene=files["scene"])
        with dg.DagsterInstance.from_config(str(root)) as instance:
            for k, combo in enumerate(combos, 1):
                req = combo.request
                say(f"[{k}/{len(combos)}] {req.name}: {req.person.name} + "
                    f"{req.garment.name} in {req.scene.name}, {req.audio.name}")
                t0 = time.perf_counter()
                row = evaluate_one(ws, combo, instance, output, jobs=args.jobs, say=say)
                rows.append(row)
                if row["status"] == "ok":
                    say(f"    rendered {_fmt(row['audio_s'], '.1f')} s of audio in "
                        f"{_fmt(row['render_s'], '.1f')} s (RTF {_fmt(row['rtf'], '.2f')}); "
                        f"lip r {_fmt(row['lipsync_r'], '.2f')}, identity "
                        f"{_fmt(row['identity_mean'], '.2f')}, bg "
                        f"{_fmt(row['bg_psnr'], '.1f')} dB; {row['n_failed']} failed checks; "
                        f"{time.perf_counter() - t0:.0f} s in all")
                else:
                    say(f"    FAILED after {time.perf_counter() - t0:.0f} s: {row['error']}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    n_ok = sum(r["status"] == "ok" for r in rows)
    title = (f"vidpipe eval: {samples.name}, {output.width}x{output.height}@{FPS} embedded, "
             f"{n_ok}/{len(rows)} rendered, {time.perf_counter() - started:.0f} s")
    notes = [f"Samples: `{samples}`; workspace: `{root}`; {os.cpu_count()} CPUs, "
             f"{args.jobs} segments at once."]
    csv_path, md_path, png_path = out / "eval.csv", out / "eval.md", out / "eval_grid.png"
    write_csv(rows, csv_path)
    md_path.write_text(markdown(rows, title=title, notes=notes), encoding="utf-8")
    try:
        grid_png(rows, png_path, title=title, aspect=output.width / output.height)
    except Exception as exc:  # noqa: BLE001 - the table is still worth having
        say(f"grid picture failed: {type(exc).__name__}: {exc}")
    say("")
    say(title)
    say(text_table(rows))
    say("")
    say("\n".join(_summary_lines(rows, md=False)))
    say("")
    say(f"csv: {csv_path}\nmarkdown: {md_path}\ngrid: {png_path}")
    return 0 if n_ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
