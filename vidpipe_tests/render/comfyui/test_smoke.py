"""`vidpipe comfy smoke` against the stand-in: the whole path, and what it says when it breaks."""

from __future__ import annotations

import numpy as np

from vidpipe.cli import main
from vidpipe.render.comfyui.smoke import smoke
from vidpipe_tests.render.comfyui.conftest import fast_client
from vidpipe_tests.render.comfyui.standin import free_port


def test_smoke_runs_end_to_end_and_uploads_once(standin, tmp_path):
    first = smoke(standin.url, size=(52, 30), keep=tmp_path, client=fast_client(standin.url))
    assert first.ok, first.report()
    assert first.got_size == (52, 30) and first.watched == "websocket"
    assert "(sent)" in first.report() and (tmp_path / first.output.split("/")[-1].split()[0]).is_file()
    assert standin.hits["upload_written"] == 1
    second = smoke(standin.url, client=fast_client(standin.url))
    assert second.ok, second.report()
    assert "nothing sent" in second.report() and standin.hits["upload_written"] == 1
    assert second.size != (52, 30) or second.prompt_id != first.prompt_id


def test_smoke_reports_a_wrong_result_and_a_missing_node(standin):
    standin._n_ImageScale = lambda a: (([np.zeros((7, 9, 3), np.uint8) for _ in a["image"]],),
                                       None)
    bad = smoke(standin.url, size=(50, 30), client=fast_client(standin.url), time_limit_s=20)
    assert not bad.ok and "the output is 9x7, asked for 50x30" in bad.problem
    standin._n_ImageScale = lambda a: 1 / 0
    broken = smoke(standin.url, client=fast_client(standin.url), time_limit_s=20)
    assert not broken.ok and "ZeroDivisionError" in broken.problem and "'Smoke Size'" in broken.problem
    del standin.classes["ImageScale"]
    missing = smoke(standin.url, client=fast_client(standin.url), time_limit_s=20)
    assert not missing.ok and "ImageScale" in missing.problem and "missing_node_type" in missing.problem
    assert missing.report().endswith(missing.problem)


def test_smoke_command(standin, capsys):
    assert main(["comfy", "smoke", "--comfy-url", standin.url]) == 0
    out = capsys.readouterr().out
    assert "ComfyUI 0.33.0" in out and out.rstrip().endswith("download all work.")
    assert main(["comfy", "smoke", "--comfy-url", f"http://127.0.0.1:{free_port()}",
                 "--timeout", "5"]) == 1
    assert "FAILED: ComfyUI at" in capsys.readouterr().out
