"""Gemini as a resource: the orchestrator's planner, or the offline planner without a key.

The key comes only through `EnvVar` (GEMINI_API_KEY, else GOOGLE_API_KEY), so Dagster shows
the variable's name, never its value. `base_url` points the client at a proxy or a local
stand-in; left empty, google-genai's own GOOGLE_GEMINI_BASE_URL still applies.
"""

from __future__ import annotations

import os
from typing import Optional
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from vidpipe.brain.planner import OfflinePlanner, Planner

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


class GeminiResource(dg.ConfigurableResource):
    """Hands out the planner every brain call goes through: Gemini when a key is set."""

    api_key: Optional[str] = Field(default=None, repr=False, description=(
        "set with dg.EnvVar('GEMINI_API_KEY') or dg.EnvVar('GOOGLE_API_KEY'), never a literal"))
    model: str = "gemini-2.5-pro"
    base_url: Optional[str] = Field(default=None, description=(
        "proxy or stand-in URL; empty: GOOGLE_GEMINI_BASE_URL or Google's endpoint"))
    api_version: str = "v1beta"
    timeout_s: float = Field(default=60.0, description="time limit of one request")
    deadline_s: float = Field(default=300.0, description="time limit of one call, retries included")
    max_retries: int = Field(default=3, description="retries after the first request")
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def planner(self) -> Planner:
        if not self.api_key:
            return OfflinePlanner()
        from vidpipe.brain.gemini import GeminiPlanner

        return GeminiPlanner(self.api_key, model=self.model, base_url=self.base_url,
                             api_version=self.api_version, timeout_s=self.timeout_s,
                             deadline_s=self.deadline_s, max_retries=self.max_retries,
                             backoff_s=self.backoff_s, max_backoff_s=self.max_backoff_s)

    def describe(self) -> dict:
        """Metadata on which planner answers (the key's presence, never the key)."""
        base = self.base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or ""
        host = ""
        if base:
            u = urlparse(base)
            host = f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")
        return {"planner": "gemini" if self.api_key else "offline",
                "planner_model": self.model if self.api_key else "",
                "planner_endpoint": host or ("Google" if self.api_key else "")}


def gemini_resource(**config) -> GeminiResource:
    """The resource for build_defs: the key through whichever variable is set, else none
    (the offline planner). Only the variable's name is chosen here; Dagster reads its value."""
    for name in KEY_VARIABLES:
        if os.environ.get(name):
            return GeminiResource(api_key=dg.EnvVar(name), **config)
    return GeminiResource(**config)
