"""The audit trail as an export dataset (CSV/XLSX, streamed like every other export)."""

from __future__ import annotations

from reporting.exports import Cell, RawSpec, raw_dataset, register
from reporting.scope import ReportScope

from .models import SupervisorAct

SUPERVISOR_ACTS = RawSpec(
    "supervision.SupervisorAct",
    (
        Cell("id", "pk"),
        Cell("site", "site__name", "text"),
        Cell("supervisor", "actor__username", "text"),
        Cell("act", "act"),
        Cell("engagement", "engagement_id"),
        Cell("operator", "operator__display_name", "text"),
        Cell("detail", "detail", "text"),
        Cell("at", "created_at", "time"),
    ),  # fmt: skip
    ("created_at", "pk"),
    "site__time_zone",
)


def acts_in(scope: ReportScope):
    return SupervisorAct.objects.filter(
        site_id__in=scope.site_ids, created_at__gte=scope.start, created_at__lt=scope.end
    )


def register_datasets() -> None:
    register(raw_dataset("supervisor_acts", "Supervisor acts (audit)", SUPERVISOR_ACTS, acts_in))
