"""The `vidpipe` command: create projects, render them through Dagster, check on them.

Errors about inputs are printed as one line naming the file and the problem (exit 2);
tracebacks are kept for bugs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vidpipe.errors import InputError, VidpipeError
from vidpipe.workspace import WORKSPACE_ENV, NewProjectRequest, Workspace, find_workspace


def _workspace(args) -> Workspace:
    root = Path(args.workspace).resolve() if args.workspace else find_workspace()
    if not (root / "dagster.yaml").is_file():
        raise VidpipeError(f"{root}: not a vidpipe workspace (no dagster.yaml); run vidpipe from "
                           f"the folder holding workspace.yaml or pass --workspace")
    os.environ[WORKSPACE_ENV] = str(root)
    os.environ.setdefault("DAGSTER_HOME", str(root))
    return Workspace(root)


def _instance():
    import dagster as dg

    return dg.DagsterInstance.get()


def _parse_change(text: str) -> tuple[float, Path | None, Path | None]:
    """'12.5:scene=street.jpg,garment=coat.png' -> (12.5, scene, garment)."""
    try:
        at_text, rest = text.split(":", 1)
        at = float(at_text)
        parts = dict(item.split("=", 1) for item in rest.split(","))
    except ValueError:
        raise InputError(None, f"--change {text!r}: expected AT:scene=PATH[,garment=PATH]") from None
    unknown = set(parts) - {"scene", "garment"}
    if unknown or not parts:
        raise InputError(None, f"--change {text!r}: only scene= and garment= can change")
    scene = Path(parts["scene"]) if "scene" in parts else None
    garment = Path(parts["garment"]) if "garment" in parts else None
    return at, scene, garment


def _output(args):
    from vidpipe.project import OutputSettings

    try:
        return OutputSettings(width=args.width, height=args.height, fps=args.fps)
    except ValueError as exc:
        raise InputError(None, f"output settings: {str(exc).splitlines()[-1].strip()}") from None


def cmd_new(args) -> int:
    from vidpipe.workspace import create_project

    ws = _workspace(args)
    req = NewProjectRequest(
        name=args.name, person=Path(args.person), garment=Path(args.garment),
        scene=Path(args.scene), audio=Path(args.audio),
        transcript=Path(args.transcript) if args.transcript else None,
        changes=[_parse_change(c) for c in args.change or []], output=_output(args),
        seed=args.seed, language=args.language)
    project = create_project(ws, req)
    print(f"created {project.folder}")
    print(f"render it with: vidpipe render {project.name}")
    return 0


def _render(ws: Workspace, name: str, backends=None, jobs: int | None = None) -> int:
    from vidpipe.cli_progress import ProgressBar, print_report
    from vidpipe.render.runner import render_project

    with ProgressBar() as bar:
        report = render_project(ws, name, _instance(), backends=backends, progress=bar,
                                on_plan=bar.plan, jobs=jobs or default_jobs())
    print_report(ws.project(name), report)
    return 0 if report.ok else 1


def default_jobs() -> int:
    """Segments rendered at once: one per core, at most 2 (each stage uses some threads too)."""
    return max(1, min(2, os.cpu_count() or 1))


def _backends(args):
    from vidpipe.definitions import default_backends
    from vidpipe.resources.backends import BackendResource

    if getattr(args, "comfy_url", None):
        return BackendResource(comfy_urls=args.comfy_url)
    return default_backends()


def cmd_render(args) -> int:
    ws = _workspace(args)
    project = ws.project(args.project)
    if args.backend and args.backend != project.spec.backend:
        project.spec.backend = args.backend
        project.save()
        print(f"{project.name}: backend set to {args.backend} in project.yaml")
    return _render(ws, args.project, _backends(args), args.jobs)


def cmd_comfy_check(args) -> int:
    from vidpipe.render.comfyui.preflight import preflight

    backends = _backends(args)
    if not backends.comfy_urls:
        raise VidpipeError("no ComfyUI server: pass --comfy-url URL or set VIDPIPE_COMFY_URLS")
    choices = {}
    if args.project:
        choices = dict(_workspace(args).project(args.project).spec.comfyui)
    for item in args.model or []:
        stage, _, model = item.partition("=")
        choices[stage] = model
    report = preflight(backends.comfy_urls, choices)
    print(report.table())
    return 0 if report.ok else 1


def cmd_comfy_smoke(args) -> int:
    from vidpipe.render.comfyui.smoke import smoke

    backends = _backends(args)
    if not backends.comfy_urls:
        raise VidpipeError("no ComfyUI server: pass --comfy-url URL or set VIDPIPE_COMFY_URLS")
    ok = True
    for url in backends.comfy_urls:
        result = smoke(url, time_limit_s=args.timeout, keep=args.keep)
        print(result.report())
        ok = ok and result.ok
    return 0 if ok else 1


def cmd_demo(args) -> int:
    from vidpipe.demo.inputs import write_demo_project

    ws = _workspace(args)
    project = write_demo_project(ws, args.name, _output(args))
    print(f"demo project: {project.folder}")
    return _render(ws, project.name)


def cmd_status(args) -> int:
    from vidpipe.cli_progress import print_status

    ws = _workspace(args)
    print_status(ws.project(args.project))
    return 0


def cmd_ui(args) -> int:
    ws = _workspace(args)
    env = dict(os.environ)
    cmd = ["dagster", "dev", "-w", str(ws.root / "workspace.yaml"), "-h", args.host,
           "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    os.chdir(ws.root)
    exe = Path(sys.executable).with_name("dagster")
    os.execve(str(exe) if exe.exists() else cmd[0], cmd, env)
    return 0


def cmd_qa(args) -> int:
    import json

    from vidpipe.qa.models import Failure, ProjectQA
    from vidpipe.qa.project_qa import qa_dir, qa_table
    from vidpipe.render.runner import measure_project_quality

    ws = _workspace(args)
    report, evaluations = measure_project_quality(ws, args.project, _instance())
    data = json.loads(report.read_text())
    qa = ProjectQA.model_validate(data["qa"])
    failures = [Failure.model_validate(f) for f in data["failures"]]
    print(qa_table(qa, failures))
    for f in failures:
        print(f"  {'BLOCKING' if f.blocking else 'warning '} {f.message}")
    checks = ", ".join(f"{e.check_name} {'passed' if e.passed else 'FAILED'}" for e in evaluations)
    print(f"asset checks: {checks}")
    sheet = qa_dir(ws.project(args.project)) / "contact_sheet.png"
    if args.sheet:
        print(f"contact sheet: {sheet}")
    print(f"report: {report}")
    return 0 if not any(f.blocking for f in failures) else 1


def cmd_bench(args) -> int:
    from vidpipe.bench import run_bench

    _workspace(args)
    if args.repeat is not None and args.repeat < 1:
        raise VidpipeError("--repeat must be at least 1")
    run_bench(quick=args.quick, keep=Path(args.keep) if args.keep else None, repeat=args.repeat)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="workspace folder (default: $VIDPIPE_WORKSPACE or "
                                            "the nearest folder holding workspace.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    def output_opts(p):
        p.add_argument("--width", type=int, default=1280)
        p.add_argument("--height", type=int, default=720)
        p.add_argument("--fps", type=int, default=25)

    p = sub.add_parser("new", help="create a project from four inputs")
    p.add_argument("name")
    p.add_argument("--person", required=True)
    p.add_argument("--garment", required=True)
    p.add_argument("--scene", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--transcript")
    p.add_argument("--language", default="en", metavar="CODE",
                   help="language of the speech (default en); without a transcript only "
                        "English is recognised, other languages' lips follow loudness")
    p.add_argument("--change", action="append", metavar="AT:scene=P[,garment=Q]",
                   help="from AT seconds on, another scene and/or garment (repeatable)")
    p.add_argument("--seed", type=int, default=1234)
    output_opts(p)
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("render", help="render every segment that is not up to date")
    p.add_argument("project")
    p.add_argument("--backend", choices=["embedded", "comfyui"],
                   help="switch the project's backend (saved in project.yaml)")
    p.add_argument("--comfy-url", action="append", metavar="URL",
                   help="a ComfyUI server (repeat for several; default $VIDPIPE_COMFY_URLS)")
    p.add_argument("--jobs", type=int, help="segments rendered at once (default: 2 on 2+ cores)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("comfy", help="ComfyUI servers")
    comfy = p.add_subparsers(dest="comfy_command", required=True)
    p = comfy.add_parser("check", help="list missing nodes, models and bad values per workflow")
    p.add_argument("--comfy-url", action="append", metavar="URL")
    p.add_argument("--project", help="check the models this project chooses")
    p.add_argument("--model", action="append", metavar="STAGE=MODEL",
                   help="check another model for a stage, e.g. tryon=catvton")
    p.set_defaults(func=cmd_comfy_check)
    p = comfy.add_parser("smoke", help="run a tiny core-nodes-only graph end to end "
                                       "(upload, queue, websocket, download; no models)")
    p.add_argument("--comfy-url", action="append", metavar="URL")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the downloaded PNG here")
    p.set_defaults(func=cmd_comfy_smoke)

    p = sub.add_parser("demo", help="create the built-in demo project and render it")
    p.add_argument("--name", default="demo")
    output_opts(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("status", help="print a project's timeline from its memory state")
    p.add_argument("project")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("qa", help="measure the rendered video and run its asset checks")
    p.add_argument("project")
    p.add_argument("--sheet", action="store_true", help="print the contact sheet's path")
    p.set_defaults(func=cmd_qa)

    p = sub.add_parser("bench", help="measure real-time factors, Dagster's share, re-render "
                                     "cost and peak memory on this machine")
    p.add_argument("--quick", action="store_true", help="720p only and shorter recordings")
    p.add_argument("--keep", help="keep the bench workspaces in this folder")
    p.add_argument("--repeat", type=int, metavar="N",
                   help="fresh renders of the demo per resolution, reported by their median "
                        "(default 3, or 1 with --quick): wall times on a shared machine vary")
    p.set_defaults(func=cmd_bench)

    sub.add_parser("eval", help="render and measure every combination in a samples folder "
                                "(people/ garments/ scenes/ speech/) plus the demo; "
                                "see vidpipe eval --help")

    p = sub.add_parser("ui", help="start the Dagster UI on this workspace")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"]:  # its own options, help included, belong to vidpipe.evaluation
        from vidpipe.evaluation import main as eval_main

        return eval_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except VidpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
