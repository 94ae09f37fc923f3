"""Quality measured from the rendered files alone (issue 4, section 1).

`measure_project` computes a `ProjectQA` (per-segment `SegmentQA` + whole-video figures),
`check` holds it to `QABounds`, `contact_sheet` draws it. No Dagster here: the asset checks
and the CLI call these functions.
"""

from vidpipe.qa.check import check
from vidpipe.qa.measure import SegmentInput, measure_project
from vidpipe.qa.models import Failure, ProjectQA, QABounds, SegmentQA
from vidpipe.qa.sheet import contact_sheet

__all__ = ["Failure", "ProjectQA", "QABounds", "SegmentInput", "SegmentQA", "check",
           "contact_sheet", "measure_project"]
