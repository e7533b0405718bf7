"""Operations figures (issue 14.6): interval tables, transfer flow per operator and queue with the
reasons given, after-contact work time and disposition breakdowns. Definitions: docs/metrics.md.

Like `metrics.py`, every function takes a `ReportScope` and returns plain rows that the page, the
exports and the API share; durations are seconds, rates fractions 0..1 (None over zero).
Engagement counts are per engagement, whatever happened to it after: an engagement transferred
twice is one engagement offered and answered once (its transfers are counted in the flow tables).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Avg, Count, F, IntegerField, Q, Sum
from django.db.models.functions import Cast, ExtractMinute, Floor, TruncHour

from helpdesk.models import Operator, Ownership, Queue
from helpdesk.models.wrapup import WrapUp

from .metrics import Seconds, _engagement_aggregates, _finish_engagement_row, engagements_in, rate, transfers_in
from .scope import ReportScope

INTERVALS = (15, 30, 60)
FLOW_GROUPINGS = ("operator", "queue")
NO_REASON = "(no reason given)"


# --- Interval tables -------------------------------------------------------------------------------


def interval_metrics(*, scope: ReportScope, minutes: int) -> list[dict]:
    """The engagement figures of `metrics.engagement_metrics` per 15, 30 or 60 minutes of arrival, in the
    report's time zone; only intervals in which something arrived (a day has 96 quarter hours)."""
    if minutes not in INTERVALS:
        raise ValueError(f"Intervals are {INTERVALS} minutes, not {minutes!r}")
    # The interval's index within its hour. Floor: PostgreSQL's EXTRACT is numeric (40 / 15 = 2.67).
    # Not an ExpressionWrapper: that would group by the minute it wraps, not by the quotient.
    slot = Cast(Floor(ExtractMinute("created_at", tzinfo=scope.zone) / minutes), IntegerField())
    rows = (
        engagements_in(scope)
        .annotate(answer_delay=F("answered_at") - F("created_at"))
        .annotate(hour=TruncHour("created_at", tzinfo=scope.zone), slot=slot)
        .values("hour", "slot")
        .annotate(**_engagement_aggregates())
        .order_by("hour", "slot")
    )
    out = []
    for row in rows:
        start = row.pop("hour").astimezone(scope.zone) + timedelta(minutes=row.pop("slot") * minutes)
        row.update(key=start.isoformat(), label=interval_label(start, minutes), start=start)
        out.append(_finish_engagement_row(row))
    return out


def interval_label(start: datetime, minutes: int) -> str:
    end = start + timedelta(minutes=minutes)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"


# --- Transfer flow ---------------------------------------------------------------------------------


def transfer_flow(*, scope: ReportScope, by: str) -> list[dict]:
    """Transfers out, in, declined and the transfer rate, per operator or per queue.

    Per operator: `out` the transfers they asked for, `in` those they took (accepted and handed over),
    `declined` the offers they turned down (each no once, queue transfers included), `handled` their
    stretches of work begun in range, `transfer_rate` = out / handled.
    Per queue: `out` the transfers of engagements that came in on the queue, `in` those sent to the
    queue, `declined` those of `out` declined, `answered` its answered engagements, `transfer_rate`
    = engagements with a transfer / answered (per engagement: two transfers of one chat count once).
    """
    from transfers.models import TransferOffer, TransferState

    transfers = transfers_in(scope)
    completed = Q(state=TransferState.COMPLETED)
    if by == "operator":
        operators = Operator.objects.filter(scope.operator_q()).order_by("display_name")
        out = _counts(transfers.values_list("initiator_id").annotate(n=Count("pk")))
        taken = _counts(transfers.filter(completed).values_list("accepted_by_id").annotate(n=Count("pk")))
        declined = _counts(
            TransferOffer.objects.filter(transfer__in=transfers, outcome=TransferOffer.Outcome.DECLINED)
            .values_list("operator_id")
            .annotate(n=Count("pk"))
        )
        handled = _counts(
            Ownership.objects.filter(
                engagement__site_id__in=scope.site_ids, started_at__gte=scope.start, started_at__lt=scope.end
            )
            .exclude(ended_because=Ownership.End.REQUEUED)
            .values_list("operator_id")
            .annotate(n=Count("pk"))
        )
        rows = []
        for operator in operators:
            row = {
                "key": operator.pk,
                "label": operator.display_name,
                "out": out.get(operator.pk, 0),
                "in": taken.get(operator.pk, 0),
                "declined": declined.get(operator.pk, 0),
                "handled": handled.get(operator.pk, 0),
            }
            if any(row[k] for k in ("out", "in", "declined")):
                rows.append({**row, "transfer_rate": rate(row["out"], row["handled"])})
        return rows
    if by == "queue":
        queues = Queue.objects.filter(site_id__in=scope.site_ids).select_related("site").order_by("site__name", "name")
        if scope.queue_ids:
            queues = queues.filter(pk__in=scope.queue_ids)
        grouped = transfers.values_list("engagement__queue_id").annotate(
            n=Count("pk"), declined=Count("pk", filter=Q(state=TransferState.DECLINED))
        )
        out = {queue_id: (n, declined) for queue_id, n, declined in grouped}
        sent_here = _counts(
            transfers.filter(target_queue__isnull=False).values_list("target_queue_id").annotate(n=Count("pk"))
        )
        engagement_rows = {
            r["queue_id"]: r
            for r in engagements_in(scope)
            .values("queue_id")
            .annotate(
                answered=Count("pk", filter=Q(answered_at__isnull=False)),
                transferred=Count("pk", filter=Q(pk__in=transfers.values("engagement_id")), distinct=True),
            )
            .order_by()
        }
        rows = []
        for queue in queues:
            n, declined_n = out.get(queue.pk, (0, 0))
            answered = engagement_rows.get(queue.pk, {}).get("answered", 0)
            transferred = engagement_rows.get(queue.pk, {}).get("transferred", 0)
            row = {"key": queue.pk, "label": str(queue), "out": n, "in": sent_here.get(queue.pk, 0)}
            row.update(declined=declined_n, answered=answered, transferred=transferred)
            if n or row["in"]:
                rows.append({**row, "transfer_rate": rate(transferred, answered)})
        return rows
    raise ValueError(f"Unknown grouping {by!r}")


def transfer_reasons(*, scope: ReportScope) -> list[dict]:
    """Transfers by the reason code the initiator picked (chat and phone dialogs), and their outcomes."""
    from transfers.models import TransferState

    grouped = (
        transfers_in(scope)
        .values("reason__name", "reason__code")
        .annotate(
            requested=Count("pk"),
            completed=Count("pk", filter=Q(state=TransferState.COMPLETED)),
            declined=Count("pk", filter=Q(state=TransferState.DECLINED)),
        )
        .order_by()
    )
    rows = [
        {
            "label": r["reason__name"] or NO_REASON,
            "code": r["reason__code"] or "",
            "requested": r["requested"],
            "completed": r["completed"],
            "declined": r["declined"],
        }
        for r in grouped
    ]
    return sorted(rows, key=lambda r: (-r["requested"], r["label"] == NO_REASON, r["label"]))


def _counts(pairs) -> dict:
    return {key: n for key, n in pairs if key is not None}


# --- After-contact work and dispositions ----------------------------------------------------------


def wrap_ups_in(scope: ReportScope):
    """Wrap-ups begun in range, on engagements of the scope's sites, by operators in scope."""
    wrap_ups = WrapUp.objects.filter(
        engagement__site_id__in=scope.site_ids, started_at__gte=scope.start, started_at__lt=scope.end
    )
    if scope.queue_ids:
        wrap_ups = wrap_ups.filter(queue_id__in=scope.queue_ids)
    if scope.team_ids or scope.operator_ids:
        wrap_ups = wrap_ups.filter(operator__in=Operator.objects.filter(scope.operator_q()).values("pk"))
    return wrap_ups


def wrap_up_metrics(*, scope: ReportScope, by: str) -> list[dict]:
    """After-contact work per operator or per queue: how many, total and average time (finished
    wrap-ups only: one still open has no length yet), and how many ran out of time."""
    if by not in FLOW_GROUPINGS:
        raise ValueError(f"Unknown grouping {by!r}")
    length = Seconds(F("ended_at"), F("started_at"))
    ended = Q(ended_at__isnull=False)
    key = "operator_id" if by == "operator" else "queue_id"
    rows = (
        wrap_ups_in(scope)
        .values(key)
        .annotate(
            wrap_ups=Count("pk"),
            open=Count("pk", filter=Q(ended_at__isnull=True)),
            timed_out=Count("pk", filter=Q(ended_because=WrapUp.End.TIMED_OUT)),
            acw_seconds=Sum(length, filter=ended),
            avg_acw=Avg(length, filter=ended),
        )
        .order_by()
    )
    if by == "operator":
        names = dict(Operator.objects.filter(site_id__in=scope.site_ids).values_list("pk", "display_name"))
    else:
        names = {q.pk: str(q) for q in Queue.objects.filter(site_id__in=scope.site_ids).select_related("site")}
    out = [{"key": r[key], "label": names.get(r[key], str(r[key])), **r, "acw_seconds": r["acw_seconds"] or 0.0}
           for r in rows]  # fmt: skip
    return sorted(out, key=lambda r: r["label"])


def disposition_metrics(*, scope: ReportScope) -> list[dict]:
    """Finished wrap-ups per queue and disposition code ("(none)" when none was picked), with each
    code's share of its queue's wrap-ups."""
    rows = (
        wrap_ups_in(scope)
        .filter(ended_at__isnull=False)
        .values("queue_id", "disposition__code", "disposition__name")
        .annotate(n=Count("pk"))
        .order_by()
    )
    queues = {q.pk: str(q) for q in Queue.objects.filter(site_id__in=scope.site_ids).select_related("site")}
    per_queue: dict[int, int] = {}
    for r in rows:
        per_queue[r["queue_id"]] = per_queue.get(r["queue_id"], 0) + r["n"]
    out = [
        {
            "queue": queues.get(r["queue_id"], str(r["queue_id"])),
            "code": r["disposition__code"] or "",
            "label": r["disposition__name"] or "(none)",
            "count": r["n"],
            "share": rate(r["n"], per_queue[r["queue_id"]]),
        }
        for r in rows
    ]
    return sorted(out, key=lambda r: (r["queue"], -r["count"], r["label"]))
