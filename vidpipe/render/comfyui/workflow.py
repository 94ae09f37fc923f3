"""Workflows: loading an API-format graph with its sidecar, checking it, filling it by title.

Nodes are found by `_meta.title`, never by id, so a user's own export works as long as its
titles match the sidecar. Filling returns a new graph; the file on disk is never changed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from vidpipe.render.comfyui.errors import WorkflowError
from vidpipe.render.comfyui.sidecar import STAGES, Stage, WorkflowSidecar

WORKFLOW_DIR = Path(__file__).resolve().parents[3] / "workflows"
SIDECAR_SUFFIX = ".sidecar.json"
OUTPUT_CLASSES = {"SaveImage", "PreviewImage", "SaveVideo", "SaveAudio", "SaveAnimatedWEBP",
                  "SaveAnimatedPNG", "SaveWEBM", "VHS_VideoCombine"}


class StageChoices(BaseModel):
    """Which model renders each stage (the `comfyui:` section a project.yaml may carry).

    Each value names `workflows/<stage>_<value>.json`. `interpolate` is optional: when set,
    motion renders every other frame and the interpolation workflow fills the rest.
    """

    model_config = ConfigDict(extra="forbid")

    tryon: str = "idm_vton"
    matte: str = "sam2"
    depth: str = "depth_anything_v2"
    composite: str = "sdxl_inpaint"
    motion: str = "mimicmotion"
    interpolate: str | None = None
    lipsync: str = "latentsync"
    upscale: str = "realesrgan"

    def chosen(self) -> dict[str, str]:
        return {s: v for s in STAGES if (v := getattr(self, s)) is not None}


def available_models(directory: Path = WORKFLOW_DIR) -> dict[str, list[str]]:
    """stage -> model names that have a workflow and a sidecar in `directory`."""
    found: dict[str, list[str]] = {s: [] for s in STAGES}
    for side in sorted(Path(directory).glob(f"*{SIDECAR_SUFFIX}")):
        stem = side.name[: -len(SIDECAR_SUFFIX)]
        stage, _, model = stem.partition("_")
        if stage in found and model:
            found[stage].append(model)
    return found


@dataclass
class Workflow:
    """A graph, its sidecar and where they came from."""

    name: str  # "<stage>_<model>"
    path: Path
    graph: dict[str, dict]
    sidecar: WorkflowSidecar

    @property
    def stage(self) -> str:
        return self.sidecar.stage

    def titles(self) -> dict[str, list[str]]:
        """title -> node ids carrying it."""
        out: dict[str, list[str]] = {}
        for node_id, node in self.graph.items():
            title = (node.get("_meta") or {}).get("title")
            if isinstance(title, str):
                out.setdefault(title, []).append(node_id)
        return out

    def node_by_title(self, title: str, graph: dict | None = None) -> tuple[str, dict]:
        graph = self.graph if graph is None else graph
        ids = [i for i, n in graph.items() if (n.get("_meta") or {}).get("title") == title]
        if len(ids) != 1:
            how = "no node" if not ids else f"{len(ids)} nodes ({', '.join(ids)})"
            raise WorkflowError(f"{self.path}: {how} titled {title!r}; the sidecar "
                                f"{self.name}{SIDECAR_SUFFIX} expects exactly one")
        return ids[0], graph[ids[0]]

    def title_of(self, node_id: str) -> str | None:
        return (self.graph.get(node_id, {}).get("_meta") or {}).get("title")

    def class_of(self, node_id: str) -> str | None:
        return self.graph.get(node_id, {}).get("class_type")

    def fill(self, values: dict[str, Any], *, output_prefix: str | None = None) -> dict:
        """A copy of the graph with each sidecar input set from `values` (by name).

        Values for names the sidecar does not declare are ignored (the backend offers every
        value it knows; each workflow takes what it declares). A declared, non-optional
        input without a value is an error. `output_prefix` replaces `filename_prefix` on the
        output nodes, so each run's files are easy to find on the server.
        """
        graph = copy.deepcopy(self.graph)
        missing = [n for n, s in self.sidecar.inputs.items() if n not in values and not s.optional]
        if missing:
            raise WorkflowError(f"{self.name}: no value for {', '.join(missing)}")
        for name, slot in self.sidecar.inputs.items():
            if name not in values:
                continue
            _, node = self.node_by_title(slot.title, graph)
            node.setdefault("inputs", {})[slot.input] = _literal(values[name])
        if output_prefix is not None:
            for slot in self.sidecar.outputs.values():
                _, node = self.node_by_title(slot.title, graph)
                if "filename_prefix" in node.get("inputs", {}):
                    node["inputs"]["filename_prefix"] = output_prefix
        return graph


def _literal(value: Any) -> Any:
    # A list that is not a link must be wrapped (comfyui.md §2).
    if isinstance(value, (list, tuple)):
        return {"__value__": list(value)}
    if isinstance(value, Path):
        return str(value)
    return value


def load_workflow(stage: Stage | str, model: str, directory: Path = WORKFLOW_DIR) -> Workflow:
    name = f"{stage}_{model}"
    directory = Path(directory)
    path = directory / f"{name}.json"
    side = directory / f"{name}{SIDECAR_SUFFIX}"
    if not (path.is_file() and side.is_file()):
        have = available_models(directory).get(str(stage), [])
        raise WorkflowError(f"no workflow {name} in {directory} (need {path.name} and "
                            f"{side.name}); models for {stage}: {', '.join(have) or 'none'}")
    try:
        graph = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{path}: not valid JSON ({exc})") from None
    try:
        sidecar = WorkflowSidecar.model_validate_json(side.read_text())
    except ValueError as exc:
        raise WorkflowError(f"{side}: {str(exc).splitlines()[0]}: {exc}") from None
    wf = Workflow(name=name, path=path, graph=graph, sidecar=sidecar)
    problems = check_workflow(wf)
    if problems:
        raise WorkflowError(f"{path}: " + "; ".join(problems))
    return wf


def api_format_problems(graph: Any) -> list[str]:
    """What keeps `graph` from being a valid API-format prompt (comfyui.md §2)."""
    if not isinstance(graph, dict) or not graph:
        return ["not an object of node id -> node (is it a UI export? use Save (API))"]
    if "nodes" in graph and "links" in graph:
        return ["this is the UI format; export with Save (API)"]
    problems = []
    for node_id, node in graph.items():
        if not isinstance(node_id, str) or not isinstance(node, dict):
            problems.append(f"node {node_id!r} is not an object")
            continue
        if not isinstance(node.get("class_type"), str):
            problems.append(f"node {node_id} has no class_type")
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            problems.append(f"node {node_id} has no inputs object")
            continue
        meta = node.get("_meta", {})
        if not isinstance(meta, dict) or not isinstance(meta.get("title", ""), str):
            problems.append(f"node {node_id}: _meta.title must be a string")
        for key, value in inputs.items():
            if isinstance(value, list):
                if (len(value) != 2 or not isinstance(value[0], str)
                        or not isinstance(value[1], int) or value[1] < 0):
                    problems.append(f"node {node_id} input {key}: a list must be a link "
                                    f"[node_id, output_index] (wrap other lists in __value__)")
                elif value[0] not in graph:
                    problems.append(f"node {node_id} input {key}: links to missing node "
                                    f"{value[0]}")
    if not any(isinstance(n, dict) and n.get("class_type") in OUTPUT_CLASSES
               for n in graph.values()):
        problems.append("no output node (SaveImage, VHS_VideoCombine, ...)")
    return problems


def check_workflow(wf: Workflow) -> list[str]:
    """Graph and sidecar agree: API format, titled inputs exist, outputs are output nodes,
    model files are the values the graph names, every class_type has a confirmation note."""
    problems = api_format_problems(wf.graph)
    if problems:
        return problems
    side = wf.sidecar
    if side.workflow != wf.path.name:
        problems.append(f"sidecar names {side.workflow}, the graph is {wf.path.name}")
    if f"{side.stage}_{side.model}" != wf.name:
        problems.append(f"sidecar says {side.stage}_{side.model}, the file is {wf.name}")
    titles = wf.titles()

    def one(title: str) -> dict | None:
        ids = titles.get(title, [])
        if len(ids) != 1:
            problems.append(f"title {title!r}: {len(ids)} nodes carry it, need exactly one")
            return None
        return wf.graph[ids[0]]

    for name, slot in side.inputs.items():
        node = one(slot.title)
        if node is not None and slot.input not in node["inputs"]:
            problems.append(f"input {name}: node {slot.title!r} ({node['class_type']}) has no "
                            f"input {slot.input!r}")
    for name, slot in side.outputs.items():
        node = one(slot.title)
        if node is not None and node["class_type"] not in OUTPUT_CLASSES:
            problems.append(f"output {name}: node {slot.title!r} is a {node['class_type']}, "
                            f"not an output node")
    for ref in side.references:
        if ref not in side.inputs:
            problems.append(f"reference {ref!r} is not a declared input")
    for m in side.models:
        if m.title is None:
            continue
        node = one(m.title)
        if node is not None and node["inputs"].get(m.input or "") != m.filename:
            problems.append(f"model {m.filename}: node {m.title!r} input {m.input!r} is "
                            f"{node['inputs'].get(m.input or '')!r}")
    classes = {n["class_type"] for n in wf.graph.values()}
    for cls in sorted(classes - set(side.confirmed_from)):
        problems.append(f"class_type {cls} has no confirmed_from entry")
    pack_classes = {c for p in side.node_packs for c in p.class_types}
    for cls in sorted(pack_classes - classes):
        problems.append(f"node pack lists {cls}, which the graph does not use")
    return problems
