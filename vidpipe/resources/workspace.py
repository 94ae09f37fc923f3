"""Where projects live, as a resource so the location is configuration, not code."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from vidpipe.project import Project
from vidpipe.workspace import Workspace


class WorkspaceResource(dg.ConfigurableResource):
    """The workspace root: projects/ and inbox/ live under it."""

    root: str

    @property
    def workspace(self) -> Workspace:
        return Workspace(Path(self.root).resolve())

    def project(self, name: str) -> Project:
        return self.workspace.project(name)
