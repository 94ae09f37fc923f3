"""`vidpipe ui` starts a real Dagster webserver + daemon on the workspace and shows the graph."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(port: int, query: str) -> dict:
    r = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]


def test_ui_serves_the_asset_graph(workspace):
    port = _free_port()
    env = dict(os.environ, VIDPIPE_WORKSPACE=str(workspace.root), DAGSTER_HOME=str(workspace.root))
    proc = subprocess.Popen([sys.executable, "-m", "vidpipe.cli", "ui", "--port", str(port)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                assert _gql(port, "{ version }")["version"]
                break
            except (requests.ConnectionError, requests.HTTPError, KeyError):
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("the Dagster UI did not come up within 120 s")
                time.sleep(1)
        nodes = _gql(port, "{ assetNodes { assetKey { path } groupName isPartitioned } }")
        keys = {n["assetKey"]["path"][0]: n for n in nodes["assetNodes"]}
        assert len(keys) == 13 and all(n["isPartitioned"] for n in keys.values())
        assert keys["motion_clip"]["groupName"] == "animation"
        repo = _gql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
                          "name sensors { name } schedules { name } pipelines { name } } } } }")
        (r,) = repo["repositoriesOrError"]["nodes"]
        assert {s["name"] for s in r["sensors"]} == {"inbox_sensor", "render_dispatch_sensor"}
        assert {"render_segment", "analyze_project", "deliver_video"} <= {
            p["name"] for p in r["pipelines"]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
