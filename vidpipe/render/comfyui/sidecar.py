"""What a workflow file promises: its titled inputs and outputs, node packs and model files.

A sidecar sits beside each graph in workflows/ as `<stage>_<model>.sidecar.json`. vidpipe
fills the graph only through the titles named here, so a user may replace the graph with
their own "Save (API)" export as long as the titles (and the inputs on those nodes) match.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["tryon", "matte", "depth", "composite", "motion", "interpolate", "lipsync",
                "upscale"]
STAGES: tuple[str, ...] = ("tryon", "matte", "depth", "composite", "motion", "interpolate",
                           "lipsync", "upscale")

SlotKind = Literal["image", "video", "audio", "int", "float", "string", "bool"]
FILE_KINDS = ("image", "video", "audio")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSlot(_Strict):
    """One value vidpipe writes into the graph: `inputs[input]` of the node titled `title`."""

    title: str
    input: str
    kind: SlotKind
    description: str = ""
    optional: bool = False  # vidpipe may leave the graph's own value in place


class OutputSlot(_Strict):
    """An output node whose files vidpipe downloads."""

    title: str
    kind: Literal["image", "video", "audio"]
    description: str = ""


class NodePack(_Strict):
    """A custom node pack the graph needs, with the class types it provides."""

    name: str
    repo: str  # URL to clone into ComfyUI/custom_nodes
    class_types: list[str]
    note: str = ""


class ModelFile(_Strict):
    """A weight file the server must have. `folder` is a ComfyUI model folder (what
    GET /models lists) when `checkable`; otherwise a path the pack reads by itself."""

    folder: str
    filename: str
    title: str | None = None  # the node whose input names the file, if any
    input: str | None = None
    checkable: bool = True
    source: str = ""  # where to get it
    note: str = ""


class WorkflowSidecar(_Strict):
    schema_version: Literal[1] = 1
    stage: Stage
    model: str
    workflow: str  # file name of the API-format graph beside this sidecar
    description: str
    inputs: dict[str, InputSlot]
    outputs: dict[str, OutputSlot]
    # Inputs that carry the continuity anchors (original try-on, original scene).
    references: list[str] = Field(default_factory=list)
    node_packs: list[NodePack] = Field(default_factory=list)
    models: list[ModelFile] = Field(default_factory=list)
    # Every class_type of the graph -> where its name and inputs were confirmed (a live
    # /object_info, naming the server's version, or a section of shared/reference/comfyui.md)
    # or "unconfirmed: <why>".
    confirmed_from: dict[str, str]
