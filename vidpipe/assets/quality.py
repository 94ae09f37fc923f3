"""QA of the finished video, measured from the rendered files alone, as asset checks."""

import dagster as dg

from vidpipe.assets.bookkeeping import observe_memory
from vidpipe.assets.delivery import final_video
from vidpipe.memory import MemoryStore
from vidpipe.partitions import project_partitions
from vidpipe.plan import CODE_VERSIONS
from vidpipe.qa.project_qa import CHECKS, check_results, measure, qa_table
from vidpipe.resources.workspace import WorkspaceResource
from vidpipe.storage import read_image, thumbnail_markdown

# A failed check is blocking where a bad score means a bad segment (re-render it).
BLOCKING = {"lipsync", "av_offset", "identity", "background_psnr", "joins", "duration",
            "garment_colour"}


@dg.asset(partitions_def=project_partitions, group_name="qa", deps=[final_video],
          code_version=CODE_VERSIONS["video_qa"],
          check_specs=[dg.AssetCheckSpec(name, asset="video_qa", blocking=name in BLOCKING,
                                         description=f"QA bound on {', '.join(metrics)}")
                       for name, metrics in CHECKS.items()])
def video_qa(context: dg.AssetExecutionContext, workspace: WorkspaceResource):
    """Lip-sync, A/V offset, identity, garment colour, background PSNR, flicker, joins and
    duration of the final video, per segment and overall; writes a contact sheet."""
    project = workspace.project(context.partition_key)
    outcome = measure(project, sheet=True)
    observe_memory(context, project.name, MemoryStore(project.memory_path).read(),
                   "QA scores recorded")
    qa = outcome.qa
    yield dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(outcome.report_path)),
        "contact_sheet": dg.MetadataValue.path(str(outcome.sheet_path)),
        "preview": dg.MetadataValue.md(thumbnail_markdown(read_image(outcome.sheet_path)[..., :3],
                                                          "contact sheet", max_side=480)),
        "table": dg.MetadataValue.md("```\n" + qa_table(qa, outcome.failures) + "\n```"),
        "lipsync_corr": qa.lipsync_corr, "silent_closed": qa.silent_closed,
        "av_offset": qa.av_offset, "identity_mean": qa.identity_mean,
        "garment_delta_e_tryon": qa.garment_delta_e_tryon,
        "background_psnr": qa.background_psnr, "join_ratio_max": qa.join_ratio_max,
        "failed_checks": len(outcome.failures), "measure_seconds": round(qa.measure_s, 2),
    })
    for name, (passed, blocking, messages) in check_results(outcome.failures).items():
        yield dg.AssetCheckResult(
            check_name=name, passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={"failures": dg.MetadataValue.md("\n".join(f"- {m}" for m in messages)
                                                     or "none")})
