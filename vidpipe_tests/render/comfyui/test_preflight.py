"""`vidpipe comfy check`: missing node packs, model files and combo values, per workflow."""

from __future__ import annotations

from vidpipe.render.comfyui.preflight import main_check, preflight
from vidpipe_tests.render.comfyui.standin import free_port


def test_a_complete_server_passes(standin):
    report = preflight([standin.url], {})
    assert report.ok, report.table()
    assert report.servers[standin.url] == "ComfyUI 0.33.0"
    assert "tryon_idm_vton" in report.workflows
    # files that packs fetch themselves cannot be seen through /models: listed as notes
    assert any(f.severity == "note" and "sam2" in f.what for f in report.findings)
    assert "OK (notes only)" in report.table()
    [core, packs] = report.summaries[standin.url]
    assert "core nodes used by these workflows: all" in core
    assert "missing: none" in packs and "ComfyUI-VideoHelperSuite" in packs


def test_missing_pack_model_and_value_are_listed_with_the_fix(standin):
    del standin.classes["IDM-VTON"]
    standin.models["upscale_models"] = []
    standin.models["ipadapter"] = []
    standin.classes["VHS_VideoCombine"]["input"]["required"]["format"] = [["image/gif"], {}]
    report = preflight([standin.url], {})
    assert not report.ok
    by = {(f.workflow, f.problem): f for f in report.errors}
    node = by[("tryon_idm_vton", "missing node")]
    assert "IDM-VTON" in node.what and "https://github.com/TemryL/ComfyUI-IDM-VTON" in node.fix
    model = by[("upscale_realesrgan", "missing model")]
    assert "upscale_models/RealESRGAN_x4plus.pth" in model.what and "models/upscale_models" in model.fix
    assert ("composite_sdxl_inpaint", "missing model") in by  # the IP-Adapter file (no node input)
    value = by[("motion_mimicmotion", "invalid value")]
    assert "format='video/h264-mp4'" in value.what and "image/gif" in value.fix
    table = report.table(notes=False)
    assert "missing node" in table and "problems: fix them" in table
    # one to-do line per pack or file, naming the workflows that need it
    todo = report.todo(standin.url)
    assert ("install node pack ComfyUI-IDM-VTON: git clone https://github.com/TemryL/"
            "ComfyUI-IDM-VTON into ComfyUI/custom_nodes/, install its requirements.txt if it "
            "has one, restart ComfyUI (for tryon_idm_vton)") in todo
    assert ("put model file models/upscale_models/RealESRGAN_x4plus.pth on the server (from "
            "https://github.com/xinntao/Real-ESRGAN/releases) (for upscale_realesrgan)") in todo
    assert len(todo) == len(set(todo)) and "To do on " + standin.url in table
    assert "missing: ComfyUI-IDM-VTON" in report.summaries[standin.url][1]


def test_long_file_names_are_never_cut(standin):
    standin.models["clip_vision"] = []
    report = preflight([standin.url], {"composite": "flux_fill"})
    table = report.table()
    # a file name longer than the column stays whole, in the table and in its fix
    assert "clip_vision/sigclip_vision_patch14_384.safetensors for 'Vision Encoder'" in table
    assert "put sigclip_vision_patch14_384.safetensors into models/clip_vision" in table


def test_a_missing_core_node_says_update_comfyui(standin):
    del standin.classes["ImageScale"]
    report = preflight([standin.url], {})
    assert "14 of 15 there, missing ImageScale (update ComfyUI)" in \
        report.summaries[standin.url][0]
    assert any(f.problem == "missing node" and f.fix.startswith("update ComfyUI")
               for f in report.errors)


def test_unreachable_server_and_the_cli_helper(standin, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    report = preflight([dead, standin.url], {"interpolate": "rife"})
    assert [f.problem for f in report.errors] == ["unreachable"]
    assert "interpolate_rife" in report.workflows
    assert main_check(["--comfy-url", standin.url, "--model", "lipsync=wav2lip", "--no-notes"]) == 0
    assert "lipsync_wav2lip" in capsys.readouterr().out
    assert main_check(["--comfy-url", dead]) == 1
    assert "unreachable" in capsys.readouterr().out
    assert main_check(["--comfy-url", standin.url, "--model", "tryon=nope"]) == 1
    assert "no workflow tryon_nope" in capsys.readouterr().out
