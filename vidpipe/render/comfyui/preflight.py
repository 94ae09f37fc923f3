"""`vidpipe comfy check`: can these servers run the chosen workflows?

Reads /system_stats, /object_info (once per server) and /models, and lists per workflow the
node types the server lacks (with the pack to install), the model files it lacks (with the
folder and where to get them) and literal values its combos refuse. A comfyui render runs
this first and stops before anything is queued when `ok` is false.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.render.comfyui.client import ComfyClient
from vidpipe.render.comfyui.errors import ComfyError, WorkflowError
from vidpipe.render.comfyui.workflow import WORKFLOW_DIR, StageChoices, Workflow, load_workflow


@dataclass
class Finding:
    server: str
    workflow: str
    problem: str  # unreachable | missing node | missing model | invalid value | workflow | note
    what: str
    fix: str
    severity: str = "error"  # "error" stops a render; "note" is worth knowing
    todo: str = ""  # one line of the server's to-do list (shared by findings with one cause)


@dataclass
class PreflightReport:
    servers: dict[str, str] = field(default_factory=dict)  # url -> ComfyUI version / error
    workflows: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # url -> lines about what the server has: core nodes found, node packs found / missing
    summaries: dict[str, list[str]] = field(default_factory=dict)

    def todo(self, url: str) -> list[str]:
        """What to install on `url`, one line per pack or model file, with the workflows
        that need it."""
        lines: dict[str, list[str]] = {}
        for f in self.errors:
            if f.server == url and f.todo:
                needed = lines.setdefault(f.todo, [])
                if f.workflow not in needed:
                    needed.append(f.workflow)
        return [f"{line} (for {', '.join(wfs)})" for line, wfs in lines.items()]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def table(self, notes: bool = True) -> str:
        rows = [f for f in self.findings if notes or f.severity == "error"]
        lines = [f"ComfyUI preflight: {len(self.workflows)} workflows "
                 f"({', '.join(self.workflows)})"]
        for url, version in self.servers.items():
            lines.append(f"  server {url}: {version}")
            lines += [f"    {line}" for line in self.summaries.get(url, [])]
        if not rows:
            lines.append("OK: every node type, model file and value is there.")
            return "\n".join(lines)
        head = ("server", "workflow", "problem", "what", "fix")
        cells = [head] + [(r.server, r.workflow, r.problem if r.severity == "error"
                           else f"({r.problem})", r.what, r.fix) for r in rows]
        # Columns are padded to at most 48 characters; longer cells are never cut (a
        # model's file name must stay whole), they push the rest of their row right.
        widths = [min(48, max(len(c[i]) for c in cells)) for i in range(4)]
        for c in cells:
            lines.append("  ".join(c[i].ljust(widths[i]) for i in range(4)) + "  " + c[4])
        for url in self.servers:
            todo = self.todo(url)
            if todo:
                lines.append(f"To do on {url}:")
                lines += [f"  - {line}" for line in todo]
        n = len(self.errors)
        lines.append("OK (notes only)." if n == 0 else
                     f"{n} problem{'s' if n != 1 else ''}: fix them before rendering.")
        return "\n".join(lines)


def _combo_options(spec: Any) -> list | None:
    """The options of a combo input spec (old list form or V3 COMBO), else None."""
    if isinstance(spec, (list, tuple)) and spec:
        first = spec[0]
        if isinstance(first, list):
            return first
        if first == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
            opts = spec[1].get("options")
            return opts if isinstance(opts, list) else None
    return None


def _input_specs(info: dict) -> dict[str, Any]:
    inputs = info.get("input") or {}
    specs: dict[str, Any] = {}
    for group in ("required", "optional"):
        specs.update(inputs.get(group) or {})
    return specs


def check_workflow_on(url: str, wf: Workflow, object_info: dict,
                      folders: dict[str, list[str] | None]) -> list[Finding]:
    findings: list[Finding] = []
    side = wf.sidecar
    pack_of = {c: p for p in side.node_packs for c in p.class_types}
    filled = {(s.title, s.input) for s in side.inputs.values()}
    model_by_input = {(m.title, m.input): m for m in side.models if m.title}
    for node_id, node in wf.graph.items():
        cls = node["class_type"]
        title = (node.get("_meta") or {}).get("title") or cls
        info = object_info.get(cls)
        if info is None:
            pack = pack_of.get(cls)
            fix = (f"install {pack.name} ({pack.repo}) into ComfyUI/custom_nodes and restart; "
                   f"if it is installed, read its import error in the server log"
                   if pack else "update ComfyUI (this is a core node)")
            if pack and pack.note:
                fix += f"; {pack.note}"
            todo = (f"install node pack {pack.name}: git clone {pack.repo} into "
                    f"ComfyUI/custom_nodes/, install its requirements.txt if it has one, "
                    f"restart ComfyUI" if pack else f"update ComfyUI: it has no core node {cls}")
            findings.append(Finding(url, wf.name, "missing node", f"{cls} (node {title!r})",
                                    fix, todo=todo))
            continue
        specs = _input_specs(info)
        for name, value in node["inputs"].items():
            if isinstance(value, list) or (title, name) in filled:
                continue
            options = _combo_options(specs.get(name))
            if options is None or value in options:
                continue
            model = model_by_input.get((title, name))
            if model is not None:
                fix = f"put {model.filename} into models/{model.folder}"
                fix += f" (from {model.source})" if model.source else ""
                findings.append(Finding(url, wf.name, "missing model",
                                        f"{model.folder}/{model.filename} for {title!r}", fix,
                                        todo=_model_todo(model)))
            else:
                shown = ", ".join(map(str, options[:8])) + (" ..." if len(options) > 8 else "")
                findings.append(Finding(url, wf.name, "invalid value",
                                        f"{title!r} ({cls}) {name}={value!r}",
                                        f"choose one of: {shown or '(the list is empty)'}"))
    for m in side.models:
        if m.title is not None:
            continue  # checked through its combo above
        if not m.checkable:
            findings.append(Finding(url, wf.name, "model not checkable",
                                    f"{m.folder}/{m.filename}",
                                    f"make sure it is there{f' (from {m.source})' if m.source else ''}"
                                    f"{f'; {m.note}' if m.note else ''}", "note"))
            continue
        files = folders.get(m.folder)
        if files is None or m.filename not in files:
            where = "" if files is not None else f" (the server has no folder {m.folder})"
            findings.append(Finding(url, wf.name, "missing model",
                                    f"{m.folder}/{m.filename}{where}",
                                    f"put {m.filename} into models/{m.folder}"
                                    f"{f' (from {m.source})' if m.source else ''}",
                                    todo=_model_todo(m)))
    for m in side.models:
        if m.title is not None and not m.checkable:
            findings.append(Finding(url, wf.name, "model not checkable",
                                    f"{m.folder}/{m.filename}",
                                    f"make sure it is there{f' (from {m.source})' if m.source else ''}"
                                    f"{f'; {m.note}' if m.note else ''}", "note"))
    return findings


def _model_todo(m) -> str:
    return (f"put model file models/{m.folder}/{m.filename} on the server"
            + (f" (from {m.source})" if m.source else ""))


def server_summary(workflows: list[Workflow], object_info: dict) -> list[str]:
    """What the server has of what the workflows use: core node types and node packs."""
    packs = {p.name: p for wf in workflows for p in wf.sidecar.node_packs}
    pack_classes = {c for p in packs.values() for c in p.class_types}
    used = {n["class_type"] for wf in workflows for n in wf.graph.values()}
    core = sorted(used - pack_classes)
    missing_core = [c for c in core if c not in object_info]
    lines = [f"{len(object_info)} node types; core nodes used by these workflows: "
             + (f"all {len(core)} there" if not missing_core else
                f"{len(core) - len(missing_core)} of {len(core)} there, missing "
                f"{', '.join(missing_core)} (update ComfyUI)")]
    have = [n for n, p in sorted(packs.items()) if all(c in object_info for c in p.class_types)]
    lack = [n for n in sorted(packs) if n not in have]
    if packs:
        lines.append(f"node packs there: {', '.join(have) or 'none'}; "
                     f"missing: {', '.join(lack) or 'none'}")
    return lines


def preflight(urls: list[str], stage_choices: StageChoices | dict | None = None, *,
              workflow_dir: Path | str = WORKFLOW_DIR,
              clients: dict[str, ComfyClient] | None = None) -> PreflightReport:
    """Check every chosen workflow against every server; nothing is queued."""
    choices = (stage_choices if isinstance(stage_choices, StageChoices)
               else StageChoices.model_validate(stage_choices or {}))
    report = PreflightReport()
    workflows: list[Workflow] = []
    for stage, model in choices.chosen().items():
        try:
            workflows.append(load_workflow(stage, model, Path(workflow_dir)))
        except WorkflowError as exc:
            report.findings.append(Finding("-", f"{stage}_{model}", "workflow", str(exc),
                                           "fix the file, or choose another model"))
    report.workflows = [wf.name for wf in workflows]
    if not urls:
        report.findings.append(Finding("-", "-", "unreachable", "no server URL given",
                                       "pass --comfy-url http://HOST:8188"))
    for url in urls:
        client = (clients or {}).get(url.rstrip("/")) or ComfyClient(url, retries=1)
        try:
            stats = client.system_stats()
            report.servers[url] = "ComfyUI " + str(stats.get("system", {})
                                                   .get("comfyui_version", "?"))
            object_info = client.object_info()
            folders: dict[str, list[str] | None] = {}
            needed = {m.folder for wf in workflows for m in wf.sidecar.models
                      if m.title is None and m.checkable}
            available = set(client.model_folders())
            for folder in needed:
                folders[folder] = client.model_files(folder) if folder in available else None
        except ComfyError as exc:
            report.servers[url] = f"not reachable ({exc})"
            report.findings.append(Finding(url, "-", "unreachable", str(exc),
                                           "start ComfyUI there or fix the URL"))
            continue
        report.summaries[url] = server_summary(workflows, object_info)
        for wf in workflows:
            report.findings.extend(check_workflow_on(url, wf, object_info, folders))
    return report


def main_check(argv: list[str] | None = None) -> int:
    """`vidpipe comfy check [--comfy-url URL ...] [--model STAGE=MODEL ...]`; exit 0 when ok."""
    import os

    parser = argparse.ArgumentParser(prog="vidpipe comfy check",
                                     description="Check ComfyUI servers for the chosen workflows.")
    parser.add_argument("--comfy-url", action="append", default=[],
                        help="server URL (repeat, or comma-separate, for several); default "
                             "$VIDPIPE_COMFY_URLS or http://127.0.0.1:8188")
    parser.add_argument("--model", action="append", default=[], metavar="STAGE=MODEL",
                        help="choose a stage's workflow, e.g. tryon=catvton")
    parser.add_argument("--workflows", default=str(WORKFLOW_DIR), help="workflow folder")
    parser.add_argument("--no-notes", action="store_true", help="show problems only")
    args = parser.parse_args(argv)
    urls = [u for arg in args.comfy_url for u in arg.split(",") if u.strip()]
    urls = urls or [u for u in os.environ.get("VIDPIPE_COMFY_URLS", "").split(",") if u.strip()]
    urls = urls or ["http://127.0.0.1:8188"]
    choices: dict[str, str | None] = {}
    for item in args.model:
        stage, _, model = item.partition("=")
        if not model:
            parser.error(f"--model {item!r}: write STAGE=MODEL")
        choices[stage] = None if model in ("none", "") else model
    try:
        stage_choices = StageChoices.model_validate(choices)
    except ValueError as exc:
        parser.error(str(exc).splitlines()[0])
    report = preflight(urls, stage_choices, workflow_dir=args.workflows)
    print(report.table(notes=not args.no_notes))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main_check())
