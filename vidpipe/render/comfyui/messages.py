"""ComfyUI's wire messages as pydantic models (reference: shared/reference/comfyui.md §3-§7).

These are the server's shapes, not ours, so they carry no schema_version of their own; the
ComfyUI version they follow is `COMFYUI_VERSION`. Unknown keys are kept (extra="allow") so
a newer server that adds fields still parses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

COMFYUI_VERSION = "0.33.0"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorItem(_Wire):
    """One entry of `error` or of `node_errors[id].errors` in a /prompt reply."""

    type: str = ""
    message: str = ""
    details: str = ""
    extra_info: dict[str, Any] = Field(default_factory=dict)


class NodeErrors(_Wire):
    errors: list[ErrorItem] = Field(default_factory=list)
    dependent_outputs: list[str] = Field(default_factory=list)
    class_type: str | None = None


class PromptReply(_Wire):
    """200 from POST /prompt; `node_errors` non-empty means some outputs were dropped."""

    prompt_id: str
    number: float | int = 0
    node_errors: dict[str, NodeErrors] = Field(default_factory=dict)


class PromptRefusal(_Wire):
    """400 from POST /prompt."""

    error: ErrorItem | str
    node_errors: dict[str, NodeErrors] = Field(default_factory=dict)


class FileRef(_Wire):
    """One downloadable item of an output node's UI dict (images / gifs / audio / ...)."""

    filename: str
    subfolder: str = ""
    type: str = "output"
    format: str | None = None  # VHS: "video/h264-mp4"


class HistoryStatus(_Wire):
    status_str: str = ""
    completed: bool = False
    messages: list[list[Any]] = Field(default_factory=list)


class HistoryEntry(_Wire):
    """One value of GET /history/{id}: written just before the final executing{node:null}."""

    prompt: list[Any] = Field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    status: HistoryStatus = Field(default_factory=HistoryStatus)

    def status_event(self, *types: str) -> dict | None:
        """The payload of the last status message of one of `types`, if any."""
        for item in reversed(self.status.messages):
            if len(item) == 2 and item[0] in types:
                return item[1]
        return None


class WsMessage(_Wire):
    """A websocket text frame: {"type": ..., "data": {...}}."""

    type: str
    data: dict[str, Any] = Field(default_factory=dict)


def file_refs(ui: dict[str, Any]) -> list[tuple[str, FileRef]]:
    """Every downloadable entry of a node's UI dict, with the key it came under.

    Walks every list-valued key and keeps the items that carry a filename, which covers
    `images` (also videos, marked by `animated`), `gifs` (VideoHelperSuite), `audio`, `3d`
    and keys added later; plain values such as `text` are skipped.
    """
    found: list[tuple[str, FileRef]] = []
    for key, value in ui.items():
        if not isinstance(value, list):
            continue
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("filename"), str):
                found.append((key, FileRef.model_validate(item)))
    return found
