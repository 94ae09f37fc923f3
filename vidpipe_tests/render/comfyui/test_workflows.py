"""Every workflow in workflows/ is valid API format, its sidecar matches it, and its nodes
and inputs match the stand-in's catalogue (core and VideoHelperSuite classes as a live
v0.33.0 /object_info had them; other packs from shared/reference/comfyui.md §11)."""

from __future__ import annotations

import json

import pytest

from vidpipe.render.comfyui.errors import WorkflowError
from vidpipe.render.comfyui.sidecar import STAGES, WorkflowSidecar
from vidpipe.render.comfyui.workflow import (SIDECAR_SUFFIX, WORKFLOW_DIR, StageChoices,
                                             api_format_problems, available_models,
                                             check_workflow, load_workflow)
from vidpipe_tests.render.comfyui.catalogue import CATCH_ALL, catalogue
from vidpipe_tests.render.comfyui.live import _format_extras, input_shape

ALL = [(stage, model) for stage, models in available_models().items() for model in models]
CATALOGUE = catalogue()
DUMMY = {"image": "vidpipe/x.png", "video": "vidpipe/x.mp4", "audio": "vidpipe/x.wav",
         "int": 7, "float": 25.0, "string": "[]", "bool": True}


def test_every_stage_and_model_of_the_issue_has_a_workflow():
    have = {f"{s}_{m}" for s, m in ALL}
    assert {"tryon_idm_vton", "tryon_ootdiffusion", "tryon_catvton", "matte_sam2",
            "depth_depth_anything_v2", "composite_sdxl_inpaint", "composite_flux_fill",
            "motion_mimicmotion", "motion_animatediff", "lipsync_wav2lip",
            "lipsync_latentsync", "upscale_realesrgan", "interpolate_rife"} <= have
    for stage, model in StageChoices().chosen().items():
        assert (stage, model) in ALL
    graphs = {p.name for p in WORKFLOW_DIR.glob("*.json") if not p.name.endswith(SIDECAR_SUFFIX)}
    assert graphs == {f"{s}_{m}.json" for s, m in ALL}, "every graph needs a sidecar"


@pytest.mark.parametrize("stage,model", ALL)
def test_workflow_is_api_format_and_matches_its_sidecar(stage, model):
    wf = load_workflow(stage, model)  # raises on any mismatch
    assert api_format_problems(wf.graph) == []
    assert check_workflow(wf) == []
    side = wf.sidecar
    assert side.stage in STAGES and side.inputs and side.outputs
    for pack in side.node_packs:
        assert pack.repo.startswith("https://github.com/")
    for m in side.models:
        assert m.folder and m.filename


@pytest.mark.parametrize("stage,model", ALL)
def test_workflow_nodes_and_inputs_match_the_documented_classes(stage, model):
    wf = load_workflow(stage, model)
    for node_id, node in wf.graph.items():
        cls = node["class_type"]
        assert cls in CATALOGUE, f"{wf.name} node {node_id}: {cls} is not a known class"
        info = CATALOGUE[cls]
        required, optional = info["input"]["required"], info["input"]["optional"]
        for name in required:
            assert name in node["inputs"], f"{wf.name} node {node_id} ({cls}) lacks {name}"
        for name, value in node["inputs"].items():
            spec = required.get(name) or optional.get(name)
            if spec is None:
                assert cls in CATCH_ALL, f"{wf.name} node {node_id} ({cls}): unknown input {name}"
                extras = _format_extras(info, node["inputs"])
                assert name in extras, f"{wf.name} node {node_id} ({cls}): unknown input {name}"
                continue
            if isinstance(value, list):
                src = wf.graph[value[0]]
                got = CATALOGUE[src["class_type"]]["output"][value[1]]
                assert got == spec[0], f"{wf.name} {cls}.{name}: {got} linked to {spec[0]}"
                continue
            form, options, keys = input_shape(spec)
            if form in ("COMBO", "COMBO(list)"):
                assert value in options, f"{wf.name} {cls}.{name}={value!r} not in {options}"
            elif form in ("INT", "FLOAT"):
                assert keys.get("min", value) <= value <= keys.get("max", value), \
                    f"{wf.name} {cls}.{name}={value!r} out of range {keys}"


@pytest.mark.parametrize("stage,model", ALL)
def test_fill_by_title_sets_every_declared_input(stage, model):
    wf = load_workflow(stage, model)
    values = {n: DUMMY[s.kind] for n, s in wf.sidecar.inputs.items()}
    graph = wf.fill(values, output_prefix="vidpipe/test/abc")
    for name, slot in wf.sidecar.inputs.items():
        _, node = wf.node_by_title(slot.title, graph)
        assert node["inputs"][slot.input] == values[name]
    for slot in wf.sidecar.outputs.values():
        _, node = wf.node_by_title(slot.title, graph)
        assert node["inputs"]["filename_prefix"] == "vidpipe/test/abc"
    assert wf.graph != graph  # the loaded graph itself is untouched


def test_a_users_own_export_with_other_node_ids_fills_the_same(tmp_path):
    wf = load_workflow("upscale", "realesrgan")
    renumber = {old: str(100 + i) for i, old in enumerate(wf.graph)}
    export = {}
    for old, node in wf.graph.items():
        node = json.loads(json.dumps(node))
        for k, v in node["inputs"].items():
            if isinstance(v, list):
                node["inputs"][k] = [renumber[v[0]], v[1]]
        export[renumber[old]] = node
    (tmp_path / "upscale_mine.json").write_text(json.dumps(export))
    side = wf.sidecar.model_copy(update={"model": "mine", "workflow": "upscale_mine.json"})
    (tmp_path / f"upscale_mine{SIDECAR_SUFFIX}").write_text(side.model_dump_json())
    mine = load_workflow("upscale", "mine", tmp_path)
    graph = mine.fill({"video": "vidpipe/v.mp4", "width": 640, "height": 360, "fps": 25.0})
    node_id, node = mine.node_by_title("Output Size", graph)
    assert node_id == renumber[wf.node_by_title("Output Size")[0]]
    assert (node["inputs"]["width"], node["inputs"]["height"]) == (640, 360)


def test_broken_workflows_are_refused_with_the_file_named(tmp_path):
    wf = load_workflow("depth", "depth_anything_v2")
    graph = json.loads(json.dumps(wf.graph))
    scene_id = wf.node_by_title("Scene")[0]
    graph[scene_id]["_meta"]["title"] = "Photo"
    (tmp_path / "depth_x.json").write_text(json.dumps(graph))
    side = wf.sidecar.model_copy(update={"model": "x", "workflow": "depth_x.json"})
    (tmp_path / f"depth_x{SIDECAR_SUFFIX}").write_text(side.model_dump_json())
    with pytest.raises(WorkflowError, match="title 'Scene'"):
        load_workflow("depth", "x", tmp_path)
    (tmp_path / "depth_ui.json").write_text(json.dumps({"nodes": [], "links": []}))
    side = side.model_copy(update={"model": "ui", "workflow": "depth_ui.json"})
    (tmp_path / f"depth_ui{SIDECAR_SUFFIX}").write_text(side.model_dump_json())
    with pytest.raises(WorkflowError, match="Save \\(API\\)"):
        load_workflow("depth", "ui", tmp_path)
    with pytest.raises(WorkflowError, match="models for depth: ui, x"):
        load_workflow("depth", "nope", tmp_path)


def test_generation_workflows_take_the_original_anchors():
    for stage, model in ALL:
        side = load_workflow(stage, model).sidecar
        if stage in ("composite",) or (stage == "motion" and model == "animatediff"):
            assert {"reference_person", "reference_scene"} <= set(side.references)
        if stage == "motion" and model == "mimicmotion":
            assert side.references == ["still"]


def test_sidecars_validate_as_models():
    for side in WORKFLOW_DIR.glob(f"*{SIDECAR_SUFFIX}"):
        WorkflowSidecar.model_validate_json(side.read_text())
