"""GeminiResource: Gemini with a key, the offline planner without, the key only through
EnvVar and never in what Dagster records."""

from __future__ import annotations

import dagster as dg

from vidpipe.brain.gemini import GeminiPlanner
from vidpipe.brain.planner import OfflinePlanner, SegmentRequest
from vidpipe.resources.gemini import GeminiResource, gemini_resource
from vidpipe_tests.brain.conftest import KEY
from vidpipe_tests.brain.gemini_standin import Error

SEGMENT = SegmentRequest(segment="s0000", start_s=0.0, end_s=4.0, mean_energy=0.5,
                         speech_ratio=0.9)


@dg.asset
def plan_probe(gemini: GeminiResource) -> dg.MaterializeResult:
    """Stands in for a vidpipe asset: one planner call, its facts as metadata."""
    answer = gemini.planner().read_segment(SEGMENT)
    return dg.MaterializeResult(metadata={**gemini.describe(), **answer.metadata(),
                                          "reading": dg.MetadataValue.json(answer.note())})


def materialize(resource: GeminiResource):
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([plan_probe], resources={"gemini": resource}, instance=instance)
        logs = instance.all_logs(result.run_id)
        text = "\n".join(dg.serialize_value(e) for e in logs)
    (mat,) = result.asset_materializations_for_node("plan_probe")
    return {k: v.value for k, v in mat.metadata.items()}, text


def test_without_a_key_the_offline_planner_answers(monkeypatch):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    resource = gemini_resource()
    assert resource.api_key is None and isinstance(resource.planner(), OfflinePlanner)
    meta, _ = materialize(resource)
    assert meta["planner"] == "offline" and meta["segment_planner"] == "offline"


def test_key_variable_choice(monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "google-side")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert gemini_resource().api_key == dg.EnvVar("GOOGLE_API_KEY")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    resource = gemini_resource(model="gemini-2.5-flash")
    assert resource.api_key == dg.EnvVar("GEMINI_API_KEY") and resource.model == "gemini-2.5-flash"


def test_with_a_key_gemini_answers_through_the_resource(standin, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    resource = GeminiResource(api_key=dg.EnvVar("GEMINI_API_KEY"), base_url=standin.url,
                              timeout_s=2.0, backoff_s=0.01)
    meta, logs = materialize(resource)
    assert meta["planner"] == "gemini" and meta["planner_model"] == "gemini-2.5-pro"
    assert meta["planner_endpoint"] == standin.url
    assert meta["segment_planner"] == "gemini" and meta["segment_tokens"] == 1420
    assert meta["segment_cost_usd"] > 0 and "segment_warning" not in meta
    assert standin.requests[0]["headers"]["x-goog-api-key"] == KEY
    assert KEY not in logs and KEY not in repr(resource)


def test_fallback_warning_reaches_the_metadata_without_the_key(standin, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    standin.push(*[Error(500, f"backend error, key={KEY}")] * 3)
    resource = GeminiResource(api_key=dg.EnvVar("GEMINI_API_KEY"), base_url=standin.url,
                              timeout_s=2.0, max_retries=2, backoff_s=0.01)
    meta, logs = materialize(resource)
    assert meta["planner"] == "gemini" and meta["segment_planner"] == "offline"
    assert "fell back to the offline planner" in meta["segment_warning"]
    assert meta["reading"]["fell_back"] is True
    assert KEY not in logs and "[redacted]" in meta["segment_warning"]


def test_google_gemini_base_url_through_the_resource(standin, monkeypatch):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", standin.url)
    resource = GeminiResource(api_key=KEY, timeout_s=2.0)
    planner = resource.planner()
    assert isinstance(planner, GeminiPlanner)
    assert planner.read_segment(SEGMENT).planner == "gemini"
    assert len(standin.requests) == 1
    assert resource.describe()["planner_endpoint"] == standin.url
