"""`vidpipe new`: every bad input is refused in one line naming the file, and nothing is created."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidpipe.cli import main
from vidpipe_tests.demo_inputs import demo_files


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_files(tmp_path_factory.mktemp("demo"))


def _new(workspace, name, files, **override):
    args = dict(files)
    args.update(override)
    argv = ["--workspace", str(workspace.root), "new", name, "--person", str(args["person"]),
            "--garment", str(args["garment"]), "--scene", str(args["scene"]),
            "--audio", str(args["audio"])]
    return main(argv)


def _assert_refused(capsys, workspace, rc, *needles):
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in err
    projects = workspace.projects_dir
    assert not projects.exists() or [p for p in projects.iterdir()] == []


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_good_inputs_create_a_project(workspace, demo, capsys):
    assert _new(workspace, "ok", demo) == 0
    project = workspace.project("ok")
    assert project.spec.inputs.person.startswith("inputs/person-")
    assert (project.folder / project.spec.inputs.audio).stat().st_size == demo["audio"].stat().st_size
    assert _new(workspace, "ok", demo) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Bad Name", "a|b", "../x", "x" * 65])
def test_unsafe_project_name(workspace, demo, capsys, name):
    _assert_refused(capsys, workspace, _new(workspace, name, demo), "not a safe slug")


def test_missing_image(workspace, demo, capsys, tmp_path):
    missing = tmp_path / "nope.jpg"
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, person=missing), "nope.jpg")


def test_not_an_image(workspace, demo, capsys, tmp_path):
    fake = tmp_path / "garment.png"
    fake.write_text("this is not a picture")
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, garment=fake), "garment.png")


def test_truncated_image(workspace, demo, capsys, tmp_path):
    data = (tmp_path / "full.jpg")
    Image.open(demo["scene"]).convert("RGB").save(data, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, scene=cut), "cut.jpg")


def test_image_too_small(workspace, demo, capsys, tmp_path):
    small = tmp_path / "small.png"
    Image.open(demo["person"]).resize((100, 80)).save(small)
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, person=small), "small.png")


def test_image_absurdly_large(workspace, demo, capsys, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("L", (30000, 30000)).save(huge, optimize=True)
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, scene=huge), "huge.png")


def test_no_person_in_person_photo(workspace, demo, capsys, tmp_path):
    empty = tmp_path / "landscape.png"
    y = np.linspace(0, 1, 600)[:, None, None]
    sky = (np.concatenate([120 + 100 * y, 160 + 60 * y, 220 - 100 * y], axis=2)
           * np.ones((1, 800, 1))).astype(np.uint8)
    Image.fromarray(sky).save(empty)
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, person=empty),
                    "landscape.png", "no person")


def test_no_face_in_person_photo(workspace, demo, capsys, tmp_path):
    img = np.asarray(Image.open(demo["person"]).convert("RGB")).copy()
    from vidpipe.render.embedded.landmarks import detect_faces

    x0, y0, x1, y1, _ = detect_faces(img)[0]
    pad = 0.25 * (x1 - x0)
    ys, xs = slice(max(0, int(y0 - pad)), int(y1 + pad)), slice(max(0, int(x0 - pad)), int(x1 + pad))
    img[ys, xs] = np.asarray(img[ys, xs].reshape(-1, 3).mean(0), dtype=np.uint8)  # face blanked
    faceless = tmp_path / "faceless.png"
    Image.fromarray(img).save(faceless)
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, person=faceless),
                    "faceless.png", "no face")


def test_empty_audio(workspace, demo, capsys, tmp_path):
    empty = _wav(tmp_path / "empty.wav", np.zeros(0))
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, audio=empty), "empty.wav")


def test_not_audio(workspace, demo, capsys, tmp_path):
    fake = tmp_path / "speech.mp3"
    fake.write_bytes(b"\x00garbage" * 1000)
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, audio=fake), "speech.mp3")


def test_silent_audio(workspace, demo, capsys, tmp_path):
    silent = _wav(tmp_path / "silent.wav", np.zeros(16000 * 3))
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, audio=silent), "silent.wav",
                    "silent")


def test_unreadable_audio(workspace, demo, capsys, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(demo["audio"].read_bytes()[:30])  # header cut short: no sample data
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, audio=broken), "broken.wav")


def test_missing_audio(workspace, demo, capsys, tmp_path):
    _assert_refused(capsys, workspace, _new(workspace, "p", demo, audio=tmp_path / "gone.wav"),
                    "gone.wav")


def test_cli_entry_point_prints_one_line(workspace, demo, tmp_path):
    out = subprocess.run([sys.executable, "-m", "vidpipe.cli", "--workspace", str(workspace.root),
                          "new", "p", "--person", str(tmp_path / "x.jpg"), "--garment",
                          str(demo["garment"]), "--scene", str(demo["scene"]), "--audio",
                          str(demo["audio"])], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "x.jpg" in out.stderr


def test_language_is_stored_keys_the_analysis_and_stops_english_recognition(workspace, demo):
    from vidpipe.plan import audio_key

    argv = ["--workspace", str(workspace.root), "new", "zh", "--person", str(demo["person"]),
            "--garment", str(demo["garment"]), "--scene", str(demo["scene"]),
            "--audio", str(demo["audio"]), "--language", "ZH"]
    assert main(argv) == 0
    project = workspace.project("zh")
    assert project.spec.language == "zh"
    english = type(project)(project.folder, project.spec.model_copy(update={"language": "en"}))
    assert audio_key(project) != audio_key(english)
    assert _new(workspace, "en", demo) == 0 and workspace.project("en").spec.language == "en"
    # No transcript and not English: no English recognition; the analysis says it fell back.
    from vidpipe.render.steps import analyze_audio_step, load_phones

    result = analyze_audio_step(project)
    assert result.info["phones_from"] == "none" and result.info["phones"] == 0
    assert "'zh'" in result.fell_back and "loudness" in result.fell_back
    assert load_phones(project).note == result.fell_back


def test_bad_language_code(workspace, demo, capsys):
    argv = ["--workspace", str(workspace.root), "new", "p", "--person", str(demo["person"]),
            "--garment", str(demo["garment"]), "--scene", str(demo["scene"]),
            "--audio", str(demo["audio"]), "--language", "Mandarin Chinese"]
    _assert_refused(capsys, workspace, main(argv), "not a language code", "--language")
