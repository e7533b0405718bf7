"""Every exportable table by name (`DATASETS`): the raw tables over a report scope and the metric tables.

The reports page, the admin actions and the export command find a dataset here; `register` adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from helpdesk.models import AvailabilityLog, Engagement, Message, Note
from reporting import metrics
from reporting.scope import ReportScope

from .cells import clean_cell, neutralise
from .rows import RawSpec, copy_csv_of, raw_rows_of
from .specs import AVAILABILITY_LOG, CALLS, ENGAGEMENTS, LEGS, MESSAGES, NOTES, TRANSFERS


@dataclass(frozen=True)
class Dataset:
    """One exportable table: a name for URLs/files, its columns and a row source for a scope.

    Raw datasets also say which model they list (`model`) and how to turn any queryset of
    it into rows (`rows_of`), so the admin can export its own filtered change list.
    """

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Callable[[ReportScope], Iterable[tuple]]
    model: str | None = None
    rows_of: Callable[[QuerySet], Iterable[tuple]] | None = None
    queryset: Callable[[ReportScope], QuerySet] | None = None
    csv_of: Callable[[QuerySet], Iterator[bytes] | None] | None = None

    def count(self, scope: ReportScope) -> int | None:
        """How many rows a raw dataset will have (for progress bars); None for metric tables."""
        return self.queryset(scope).count() if self.queryset else None

    def csv_blocks(self, scope: ReportScope) -> Iterator[bytes] | None:
        """CSV data rows written by the database (COPY), when it can; else None (Python writes them)."""
        return self.csv_of(self.queryset(scope)) if self.csv_of else None

    def filename(self, scope: ReportScope, extension: str) -> str:
        start = scope.start.astimezone(scope.zone).date().isoformat()
        last = scope.days[-1].isoformat()
        return f"{self.name}_{start}_{last}.{extension}"


def _scoped_engagements(scope: ReportScope) -> QuerySet:
    return Engagement.objects.filter(scope.engagement_q())


def _calls_of(scope: ReportScope) -> QuerySet:
    from telephony.models import Call

    return Call.objects.filter(engagement__in=metrics.engagements_in(scope).values("pk"))


def _legs_of(scope: ReportScope) -> QuerySet:
    from telephony.models import Leg

    return Leg.objects.filter(call__engagement__in=metrics.engagements_in(scope).values("pk"))


def _availability_log_of(scope: ReportScope) -> QuerySet:
    return AvailabilityLog.objects.filter(scope.operator_q("operator__"), started_at__lt=scope.end).exclude(
        ended_at__lte=scope.start
    )


def raw_dataset(name: str, title: str, spec: RawSpec, queryset: Callable[[ReportScope], QuerySet]) -> Dataset:
    return Dataset(
        name=name,
        title=title,
        columns=tuple(cell.header for cell in spec.cells),
        rows=lambda scope: raw_rows_of(spec, queryset(scope)),
        model=spec.model_label,
        rows_of=lambda qs: raw_rows_of(spec, qs),
        queryset=queryset,
        csv_of=lambda qs: copy_csv_of(spec, qs),
    )


# --- Metrics tables as datasets ---------------------------------------------------

ENGAGEMENT_METRIC_COLUMNS = (
    ("label", "group"),
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("abandonment_rate", "abandonment_rate"),
    ("avg_wait", "avg_wait_seconds"),
    ("p90_wait", "p90_wait_seconds"),
    ("asa", "avg_speed_of_answer_seconds"),
    ("service_level", "service_level"),
    ("aht", "avg_handle_seconds"),
    ("transferred", "transferred"),
    ("transfer_rate", "transfer_rate"),
)
OPERATOR_METRIC_COLUMNS = (
    ("label", "operator"),
    ("handled", "handled"),
    ("aht", "avg_handle_seconds"),
    ("transferred_in", "transferred_in"),
    ("transferred_out", "transferred_out"),
    *((f"{s}_seconds", f"{s}_seconds") for s in metrics.AVAILABILITY_STATES),
)


def _number(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return value


def metric_rows(columns, rows_of: Callable[[ReportScope], list[dict]]):
    def rows(scope: ReportScope) -> Iterator[tuple]:
        for row in rows_of(scope):
            yield tuple(clean_cell(row[key]) if key == "label" else _number(row[key]) for key, _ in columns)

    return rows


def _engagement_metrics_dataset(by: str) -> Dataset:
    return Dataset(
        name=f"metrics_by_{by}",
        title=f"Metrics by {by}",
        columns=tuple(header for _, header in ENGAGEMENT_METRIC_COLUMNS),
        rows=metric_rows(ENGAGEMENT_METRIC_COLUMNS, lambda scope: metrics.engagement_metrics(scope=scope, by=by)),
    )


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    DATASETS[dataset.name] = dataset
    return dataset


register(raw_dataset("engagements", "Engagements", ENGAGEMENTS, _scoped_engagements))
register(
    raw_dataset(
        "messages",
        "Transcripts (messages)",
        MESSAGES,
        lambda scope: Message.objects.filter(scope.engagement_q("engagement__")),
    )
)
register(raw_dataset("notes", "Notes", NOTES, lambda scope: Note.objects.filter(scope.engagement_q("engagement__"))))
register(raw_dataset("transfers", "Transfers", TRANSFERS, metrics.transfers_in))
register(raw_dataset("calls", "Calls", CALLS, _calls_of))
register(raw_dataset("legs", "Call legs", LEGS, _legs_of))
register(raw_dataset("availability_log", "Availability log", AVAILABILITY_LOG, _availability_log_of))
for _by in metrics.GROUPINGS:
    register(_engagement_metrics_dataset(_by))
register(
    Dataset(
        "metrics_operators",
        "Operator figures",
        tuple(header for _, header in OPERATOR_METRIC_COLUMNS),
        metric_rows(OPERATOR_METRIC_COLUMNS, lambda scope: metrics.operator_metrics(scope=scope)),
    )
)
register(
    Dataset(
        "metrics_availability",
        "Availability time per state",
        ("operator", "media", "status", "seconds"),
        lambda scope: (
            (neutralise(r["operator"]), r["media"], r["status"], round(r["seconds"], 3))
            for r in metrics.availability_metrics(scope=scope)
        ),
    )
)


def _register_transfer_and_call_metrics() -> None:
    """Metric tables of the transfers and telephony apps."""
    transfer_columns = (
        ("label", "group"), ("requested", "requested"), ("accepted", "accepted"), ("completed", "completed"),
        ("declined", "declined"), ("expired", "expired"), ("cancelled", "cancelled"), ("open", "open"),
        ("accept_rate", "accept_rate"), ("avg_time_to_accept", "avg_time_to_accept_seconds"),
    )  # fmt: skip
    register(
        Dataset(
            "metrics_transfers",
            "Transfer outcomes by day",
            tuple(header for _, header in transfer_columns),
            metric_rows(transfer_columns, lambda scope: metrics.transfer_metrics(scope=scope, by="day")),
        )
    )
    register(
        Dataset(
            "metrics_decline_reasons",
            "Decline reasons",
            ("reason", "declined"),
            metric_rows(
                (("label", "reason"), ("declined", "declined")), lambda scope: metrics.decline_reasons(scope=scope)
            ),
        )
    )
    call_columns = (
        ("label", "group"), ("calls", "calls"), ("consults", "consults"), ("call_transfers", "call_transfers"),
        ("conferences", "conferences"), ("cold_transfers", "cold_transfers"), ("avg_consult", "avg_consult_seconds"),
    )  # fmt: skip
    register(
        Dataset(
            "metrics_calls",
            "Call figures by day",
            tuple(header for _, header in call_columns),
            metric_rows(call_columns, lambda scope: metrics.call_metrics(scope=scope, by="day")),
        )
    )
    # Every other breakdown too ("metrics_transfers" and "metrics_calls" above are the by-day ones).
    for by in metrics.GROUPINGS:
        register(
            Dataset(
                f"metrics_transfers_by_{by}",
                f"Transfer outcomes by {by}",
                tuple(header for _, header in transfer_columns),
                metric_rows(transfer_columns, lambda scope, by=by: metrics.transfer_metrics(scope=scope, by=by)),
            )
        )
        register(
            Dataset(
                f"metrics_calls_by_{by}",
                f"Call figures by {by}",
                tuple(header for _, header in call_columns),
                metric_rows(call_columns, lambda scope, by=by: metrics.call_metrics(scope=scope, by=by)),
            )
        )


_register_transfer_and_call_metrics()


def _register_operations_metrics() -> None:
    """Issue 14.6's tables (reporting/operations.py): intervals, transfer flow and reasons, wrap-up, dispositions."""
    from reporting import operations

    for minutes in operations.INTERVALS:
        register(
            Dataset(
                f"metrics_intervals_{minutes}",
                f"Metrics per {minutes} minutes",
                ("interval_start", *(header for _, header in ENGAGEMENT_METRIC_COLUMNS[1:])),
                metric_rows(
                    (("key", "interval_start"), *ENGAGEMENT_METRIC_COLUMNS[1:]),
                    lambda scope, minutes=minutes: operations.interval_metrics(scope=scope, minutes=minutes),
                ),
            )
        )
    flow_columns = {
        "operator": (("label", "operator"), ("out", "transfers_out"), ("in", "transfers_in"), ("declined", "declined"),
                     ("handled", "handled"), ("transfer_rate", "transfer_rate")),
        "queue": (("label", "queue"), ("out", "transfers_out"), ("in", "transfers_in"), ("declined", "declined"),
                  ("answered", "answered"), ("transferred", "engagements_transferred"),
                  ("transfer_rate", "transfer_rate")),
    }  # fmt: skip
    wrap_up_columns = (
        ("wrap_ups", "wrap_ups"), ("open", "open"), ("timed_out", "timed_out"),
        ("acw_seconds", "acw_seconds"), ("avg_acw", "avg_acw_seconds"),
    )  # fmt: skip
    for by in operations.FLOW_GROUPINGS:
        register(
            Dataset(
                f"metrics_transfer_flow_by_{by}",
                f"Transfer flow by {by}",
                tuple(header for _, header in flow_columns[by]),
                metric_rows(flow_columns[by], lambda scope, by=by: operations.transfer_flow(scope=scope, by=by)),
            )
        )
        register(
            Dataset(
                f"metrics_wrap_up_by_{by}",
                f"After-contact work by {by}",
                (by, *(header for _, header in wrap_up_columns)),
                metric_rows(
                    (("label", by), *wrap_up_columns),
                    lambda scope, by=by: operations.wrap_up_metrics(scope=scope, by=by),
                ),
            )
        )
    register(
        Dataset(
            "metrics_transfer_reasons",
            "Transfer reasons",
            ("reason", "code", "requested", "completed", "declined"),
            metric_rows(
                (("label", "reason"), ("code", "code"), ("requested", "requested"), ("completed", "completed"),
                 ("declined", "declined")),
                lambda scope: operations.transfer_reasons(scope=scope),
            ),
        )
    )  # fmt: skip
    register(
        Dataset(
            "metrics_dispositions",
            "Dispositions",
            ("queue", "disposition", "code", "count", "share"),
            lambda scope: (
                (neutralise(r["queue"]), neutralise(r["label"]), r["code"], r["count"], _number(r["share"]))
                for r in operations.disposition_metrics(scope=scope)
            ),
        )
    )


_register_operations_metrics()
