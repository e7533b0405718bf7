"""The audit trail as export datasets (CSV/XLSX, streamed like every other export): supervisor acts
and the admin's change history."""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import CharField, Expression, Value
from django.db.models.functions import Concat

from helpdesk.models import Site
from reporting.exports import Cell, RawSpec, raw_dataset, register
from reporting.scope import ReportScope

from .audit import action_word, admin_changes_on_sites
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


class ZoneName(Expression):
    """A time zone name as an SQL literal: PostgreSQL's COPY, which writes the export, takes no
    parameters, and the export's time cells read their zone from a column or a literal."""

    output_field = CharField()

    def __init__(self, name: str):
        super().__init__()
        self.name = name if re.fullmatch(r"[A-Za-z0-9_+\-/]+", name) else "UTC"  # never other SQL

    def as_sql(self, compiler, connection):
        return f"'{self.name}'", []


# An admin change has no site column (its object may even be gone): its time is written in the
# sites' zone when they all share one, else in the project's TIME_ZONE, always with its offset.
ADMIN_CHANGES = RawSpec(
    "admin.LogEntry",
    (
        Cell("id", "pk"),
        Cell("at", "action_time", "time"),
        Cell("user", "user__username", "text"),
        Cell("action", "action_word"),
        Cell("object_type", "object_type"),
        Cell("object_id", "object_id", "text"),
        Cell("object", "object_repr", "text"),
        Cell("change_message", "change_message", "text"),
    ),  # fmt: skip
    ("action_time", "pk"),
    "export_zone",
    lambda: {
        "action_word": action_word(),
        "object_type": Concat("content_type__app_label", Value("."), "content_type__model"),
        "export_zone": ZoneName(shared_zone()),
    },
)


def shared_zone() -> str:
    """The zone every site shares, else the project's TIME_ZONE (what the database writes either way)."""
    names = list(Site.objects.values_list("time_zone", flat=True).distinct()[:2])
    return names[0] if len(names) == 1 else settings.TIME_ZONE


def acts_in(scope: ReportScope):
    return SupervisorAct.objects.filter(
        site_id__in=scope.site_ids, created_at__gte=scope.start, created_at__lt=scope.end
    )


def admin_changes_in(scope: ReportScope):
    return admin_changes_on_sites(scope.site_ids).filter(action_time__gte=scope.start, action_time__lt=scope.end)


def register_datasets() -> None:
    register(raw_dataset("supervisor_acts", "Supervisor acts (audit)", SUPERVISOR_ACTS, acts_in))
    register(raw_dataset("admin_changes", "Admin changes (audit)", ADMIN_CHANGES, admin_changes_in))
