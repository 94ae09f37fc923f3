"""`vidpipe eval` on a tiny samples folder built from the demo inputs (never the shared samples):
one good combination rendered small and short, one with an unusable garment that must be
recorded as an error without stopping the run."""

from __future__ import annotations

import csv
import os
import shutil

import cv2
import numpy as np
import pytest
import soundfile as sf

from vidpipe import evaluation
from vidpipe.demo.images import write_demo_inputs
from vidpipe.demo.inputs import SPEECH


def _samples(root):
    raw = write_demo_inputs(root / "raw")
    s = root / "samples"
    for sub in ("people", "garments", "scenes", "speech"):
        (s / sub).mkdir(parents=True)
    shutil.copy(raw["person"], s / "people" / "astro.png")
    shutil.copy(raw["garment"], s / "garments" / "tee.png")
    shutil.copy(raw["scene"], s / "scenes" / "rocket.jpg")
    # A flat white "garment": rejected when the project is created.
    cv2.imwrite(str(s / "garments" / "blank.png"), np.full((400, 300, 3), 255, np.uint8))
    audio, rate = sf.read(SPEECH, dtype="float32")
    sf.write(s / "speech" / "short.wav", audio[: int(2.4 * rate)], rate)  # one segment
    return s


def test_find_combinations_names_are_project_slugs(tmp_path):
    from vidpipe.partitions import slug_problem

    s = tmp_path / "s"
    for sub, names in {"people": ["A Person.JPG", "b.png"], "garments": ["g.jpg"],
                       "scenes": ["11_outdoor city street (night).jpg", "notes.txt"],
                       "speech": ["x.wav", "y.wav", "y.txt"]}.items():
        (s / sub).mkdir(parents=True)
        for n in names:
            (s / sub / n).write_bytes(b"")
    combos = evaluation.find_combinations(s)
    assert len(combos) == 2 * 1 * 1 * 2 + 1 and combos[-1].demo
    assert len({c.name for c in combos}) == len(combos)
    assert all(slug_problem(c.name) is None for c in combos)
    assert [c.request.transcript.name if c.request.transcript else None
            for c in combos[:2]] == [None, "y.txt"]
    assert {c.request.language for c in combos} == {"en"}
    named = evaluation.find_combinations(s, languages={"y.wav": "zh"})
    assert [c.request.language for c in named[:2]] == ["en", "zh"]


def test_eval_renders_measures_and_records_bad_inputs(tmp_path, capsys):
    samples = _samples(tmp_path)
    out = tmp_path / "out"
    before = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "VIDPIPE_WORKSPACE")}
    rc = evaluation.main([str(samples), "--width", "320", "--height", "180", "--out", str(out),
                          "--no-demo"])
    assert rc == 1  # one combination failed on purpose
    assert {k: os.environ.get(k) for k in before} == before
    printed = capsys.readouterr().out
    assert "[1/2]" in printed and "[2/2]" in printed and "lip r" in printed

    rows = list(csv.DictReader(open(out / "eval.csv", encoding="utf-8")))
    assert len(rows) == 2
    bad, good = rows
    assert bad["garment"] == "blank.png" and bad["status"] == "error"
    assert bad["error"].startswith("create: InputError") and "garment" in bad["error"]
    assert good["status"] == "ok" and good["error"] == "", good["error"]
    assert float(good["audio_s"]) == pytest.approx(2.4, abs=0.05)
    assert int(good["segments"]) == 1
    assert float(good["render_s"]) > 0
    assert float(good["rtf"]) == pytest.approx(float(good["render_s"]) / float(good["audio_s"]),
                                               rel=1e-3)
    assert -1.0 <= float(good["lipsync_r"]) <= 1.0
    assert 0.0 <= float(good["identity_mean"]) <= float(good["identity_max"]) < 1.0
    assert 0.0 <= float(good["garment_de"]) < 30
    assert 15 < float(good["bg_psnr"]) < 80
    assert abs(float(good["duration_err"])) <= 1.0
    assert int(good["n_failed"]) >= 0 and int(good["silent_frames"]) >= 0
    # the closed share is reported only over as many silent frames as the QA judges (5)
    assert (good["silent_closed"] == "") == (int(good["silent_frames"]) < 5)
    assert os.path.isfile(good["video"])

    md = (out / "eval.md").read_text(encoding="utf-8")
    assert "c02-astro-tee-rocket-short" in md and "lip-sync r" in md
    png = cv2.imread(str(out / "eval_grid.png"))
    assert png is not None and png.shape[0] > 180 and png.shape[1] >= 2 * 320
    assert float(png.std()) > 10  # a picture, not a blank canvas
