"""Contact-centre metrics computed by the database with aggregates (definitions: docs/metrics.md).

Each selector takes a `ReportScope` and returns plain rows (dicts) that the page, the
exports and the API share. Durations are seconds (floats); rates are fractions 0..1, or
None when their denominator is zero.
"""

from __future__ import annotations

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.utils import timezone

from helpdesk.models import AvailabilityLog, Engagement, Operator, Ownership, Queue, Site, Team, WrapUp

from .scope import ReportScope

GROUPINGS = ("day", "site", "queue", "team", "operator")


class Seconds(Func):
    """Seconds from `start` to `stop` as a float, so averages and percentiles stay numbers."""

    output_field = FloatField()

    def __init__(self, stop, start, **extra):
        super().__init__(stop, start, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision", arg_joiner=" - "
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday("
        )


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile (`percentile_cont(p) WITHIN GROUP (ORDER BY x)`)."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite has no ordered-set aggregates: the zero-setup default shows no p90.
        return "NULL", []


class Interval(Func):
    """An integer number of seconds as an interval, to compare with a duration."""

    output_field = DurationField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="make_interval(secs => %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        # Django keeps durations in SQLite as integer microseconds.
        return self.as_sql(compiler, connection, template="(%(expressions)s * 1000000)")


def rate(part, whole):
    return None if not whole else part / whole


def first_owner_subquery(engagement_ref: str = "pk"):
    """The operator who answered: the holder of the engagement's first ownership.

    `engagement_ref` names the engagement id on the outer query ("pk" on engagements,
    "engagement_id" on calls, "call__engagement_id" on legs)."""
    return Subquery(
        Ownership.objects.filter(engagement_id=OuterRef(engagement_ref))
        .order_by("started_at", "pk")
        .values("operator_id")[:1]
    )


def teams_in(scope: ReportScope):
    """The teams a per-team table lists: those of the scope's sites, narrowed by the team filter."""
    teams = Team.objects.filter(site_id__in=scope.site_ids).select_related("site").order_by("site__name", "name")
    if scope.team_ids:
        teams = teams.filter(pk__in=scope.team_ids)
    return teams


def members_of(team) -> Subquery:
    return Operator.objects.filter(teams=team).values("pk")


def engagements_in(scope: ReportScope):
    """Live contacts in scope. Offline messages (left while a queue was closed, answered when it
    opened) never waited on a line: they would only bend the wait, ASA and service level."""
    return Engagement.objects.filter(scope.engagement_q(), kind=Engagement.Kind.LIVE)


def _engagement_aggregates() -> dict:
    answered = Q(answered_at__isnull=False)
    abandoned = Q(answered_at__isnull=True, state=Engagement.State.ENDED)
    waited = answered | abandoned
    wait = Seconds(Coalesce("answered_at", "ended_at"), F("created_at"))
    speed_of_answer = Seconds(F("answered_at"), F("created_at"))
    within = answered & Q(answer_delay__lte=Interval(F("queue__service_level_seconds")))
    # Uncorrelated on purpose: PostgreSQL hashes it once (a correlated IN ran per row, 5x slower).
    transferred_in = Ownership.objects.filter(started_because=Ownership.Start.TRANSFERRED)
    return {
        "offered": Count("pk"),
        "answered": Count("pk", filter=answered),
        "abandoned": Count("pk", filter=abandoned),
        "waiting": Count("pk", filter=Q(state=Engagement.State.QUEUED)),
        "avg_wait": Avg(wait, filter=waited),
        "p90_wait": Percentile(wait, 0.9, filter=waited),
        "asa": Avg(speed_of_answer, filter=answered),
        "within_sl": Count("pk", filter=within),
        "aht": Avg(Seconds(F("ended_at"), F("answered_at")), filter=answered & Q(ended_at__isnull=False)),
        "transferred": Count("pk", filter=Q(pk__in=transferred_in.values("engagement_id"))),
    }


def _finish_engagement_row(row: dict) -> dict:
    row["abandonment_rate"] = rate(row["abandoned"], row["offered"])
    row["service_level"] = rate(row["within_sl"], row["answered"] + row["abandoned"])
    row["transfer_rate"] = rate(row["transferred"], row["answered"])
    return row


def engagement_metrics(*, scope: ReportScope, by: str) -> list[dict]:
    """Offered, answered, abandoned, waits, ASA, service level, handle time and transfer rate, per group.

    `by` is one of GROUPINGS or "total". Groups with no engagements are left out, except days
    (every day of the range gets a row so charts have no holes).
    """
    engagements = engagements_in(scope).annotate(answer_delay=F("answered_at") - F("created_at"))
    aggregates = _engagement_aggregates()
    if by == "total":
        row = engagements.aggregate(**aggregates)
        return [_finish_engagement_row({"key": "total", "label": "All", **row})]
    if by == "team":
        return _per_team(scope, engagements, aggregates)
    if by == "day":
        key = TruncDate("created_at", tzinfo=scope.zone)
        rows = {r["key"]: r for r in engagements.annotate(key=key).values("key").annotate(**aggregates).order_by()}
        empty = {name: 0 for name in ("offered", "answered", "abandoned", "waiting", "within_sl", "transferred")}
        out = []
        for day in scope.days:
            row = rows.get(day) or {"key": day, **empty, "avg_wait": None, "p90_wait": None, "asa": None, "aht": None}
            row["label"] = day.isoformat()
            out.append(_finish_engagement_row(row))
        return out
    if by == "site":
        key, names = F("site_id"), dict(Site.objects.filter(pk__in=scope.site_ids).values_list("pk", "name"))
    elif by == "queue":
        key = F("queue_id")
        names = {q.pk: str(q) for q in Queue.objects.filter(site_id__in=scope.site_ids).select_related("site")}
    elif by == "operator":
        key = first_owner_subquery()
        names = dict(Operator.objects.filter(site_id__in=scope.site_ids).values_list("pk", "display_name"))
        engagements = engagements.filter(answered_at__isnull=False)
    else:
        raise ValueError(f"Unknown grouping {by!r}")
    rows = engagements.annotate(key=key).values("key").annotate(**aggregates).order_by("key")
    out = []
    for row in rows:
        if by == "operator" and row["key"] not in names:
            continue  # answered by an operator of another site (scope is by engagement site)
        row["label"] = names.get(row["key"], str(row["key"]))
        out.append(_finish_engagement_row(row))
    return sorted(out, key=lambda r: r["label"])


def _per_team(scope, engagements, aggregates) -> list[dict]:
    """A team's figures are those of the queues it serves (a queue served by two teams counts in both)."""
    out = []
    for team in teams_in(scope):
        row = engagements.filter(queue_id__in=Queue.objects.filter(teams=team).values("pk")).aggregate(**aggregates)
        if row["offered"]:
            out.append(_finish_engagement_row({"key": team.pk, "label": str(team), **row}))
    return out


def operator_metrics(*, scope: ReportScope) -> list[dict]:
    """Per operator: engagements handled (ownership stretches begun in range), average handle time,
    handed on by transfer, taken over by transfer, and time spent in each availability state.

    A stretch that ended `requeued` (a call offered to the operator that went back to its queue
    unanswered: declined, not answered, withdrawn) is not work the operator handled: left out."""
    ownerships = Ownership.objects.filter(
        operator__in=Operator.objects.filter(scope.operator_q()).values("pk"),
        started_at__gte=scope.start,
        started_at__lt=scope.end,
        engagement__site_id__in=scope.site_ids,
    ).exclude(ended_because=Ownership.End.REQUEUED)
    if scope.queue_ids:
        ownerships = ownerships.filter(engagement__queue_id__in=scope.queue_ids)
    rows = {
        r["operator_id"]: r
        for r in ownerships.values("operator_id")
        .annotate(
            handled=Count("pk"),
            aht=Avg(Seconds(F("ended_at"), F("started_at")), filter=Q(ended_at__isnull=False)),
            transferred_in=Count("pk", filter=Q(started_because=Ownership.Start.TRANSFERRED)),
            transferred_out=Count("pk", filter=Q(ended_because=Ownership.End.TRANSFERRED)),
        )
        .order_by()
    }
    availability = {}
    for r in availability_metrics(scope=scope):
        availability.setdefault(r["operator_id"], {})[r["status"]] = (
            availability.get(r["operator_id"], {}).get(r["status"], 0) + r["seconds"]
        )
    out = []
    for operator in Operator.objects.filter(scope.operator_q()).order_by("display_name"):
        row = rows.get(operator.pk, {"handled": 0, "aht": None, "transferred_in": 0, "transferred_out": 0})
        states = availability.get(operator.pk, {})
        if not row["handled"] and not states:
            continue
        out.append(
            {
                "key": operator.pk,
                "label": operator.display_name,
                "handled": row["handled"],
                "aht": row["aht"],
                "transferred_in": row["transferred_in"],
                "transferred_out": row["transferred_out"],
                **{f"{status}_seconds": states.get(status, 0.0) for status in AVAILABILITY_STATES},
            }
        )
    return out


AVAILABILITY_STATES = ("available", "busy", "away", "offline")


def availability_metrics(*, scope: ReportScope) -> list[dict]:
    """Seconds each operator spent in each state per media, clipped to the range (open stretches run to now)."""
    now = timezone.now()
    stop = Least(Coalesce("ended_at", Value(now)), Value(scope.end))
    begin = Greatest("started_at", Value(scope.start))
    logs = AvailabilityLog.objects.filter(
        operator__in=Operator.objects.filter(scope.operator_q()).values("pk"),
        started_at__lt=scope.end,
    ).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=scope.start))
    rows = (
        logs.values("operator_id", "operator__display_name", "media", "status")
        .annotate(seconds=Sum(Seconds(stop, begin)))
        .order_by("operator__display_name", "media", "status")
    )
    return [
        {
            "operator_id": r["operator_id"],
            "operator": r["operator__display_name"],
            "media": r["media"],
            "status": r["status"],
            "seconds": max(r["seconds"] or 0.0, 0.0),
        }
        for r in rows
    ]


def wrap_up_metrics(*, scope: ReportScope) -> list[dict]:
    """After-contact work per operator and queue: wrap-ups begun in the range, their time (ended ones
    end to start; one still open counts up to now), the average of the ended ones, and how many ran
    out of time (time-boxed). Narrowed by the queue, team and operator filters (docs/metrics.md)."""
    wrap_ups = WrapUp.objects.filter(
        queue__site_id__in=scope.site_ids,
        started_at__gte=scope.start,
        started_at__lt=scope.end,
        operator__in=Operator.objects.filter(scope.operator_q()).values("pk"),
    )
    if scope.queue_ids:
        wrap_ups = wrap_ups.filter(queue_id__in=scope.queue_ids)
    rows = (
        wrap_ups.values("operator_id", "operator__display_name", "queue_id", "queue__name")
        .annotate(
            wrap_ups=Count("pk"),
            seconds=Sum(Seconds(Coalesce("ended_at", Value(timezone.now())), F("started_at"))),
            average_seconds=Avg(Seconds(F("ended_at"), F("started_at")), filter=Q(ended_at__isnull=False)),
            timed_out=Count("pk", filter=Q(ended_because=WrapUp.End.TIMED_OUT)),
        )
        .order_by("operator__display_name", "queue__name")
    )
    return [
        {
            "operator_id": r["operator_id"],
            "operator": r["operator__display_name"],
            "queue_id": r["queue_id"],
            "queue": r["queue__name"],
            "wrap_ups": r["wrap_ups"],
            "seconds": max(r["seconds"] or 0.0, 0.0),
            "average_seconds": r["average_seconds"],
            "timed_out": r["timed_out"],
        }
        for r in rows
    ]


# --- Transfers -----------------------------------------------------------------------

TRANSFER_OUTCOMES = (
    ("accepted", "Accepted"),
    ("completed", "Completed"),
    ("declined", "Declined"),
    ("expired", "Not answered"),
    ("cancelled", "Cancelled"),
    ("open", "Still open"),
)
NO_REASON = "(no reason given)"


def transfers_in(scope: ReportScope):
    """Chat transfers requested in the range on engagements of the scope's sites (and filters)."""
    from transfers.models import Transfer

    transfers = Transfer.objects.filter(
        engagement__site_id__in=scope.site_ids, requested_at__gte=scope.start, requested_at__lt=scope.end
    )
    if scope.queue_ids:
        transfers = transfers.filter(engagement__queue_id__in=scope.queue_ids)
    if scope.team_ids:
        transfers = transfers.filter(initiator__in=Operator.objects.filter(teams__in=scope.team_ids).values("pk"))
    if scope.operator_ids:
        transfers = transfers.filter(
            Q(initiator_id__in=scope.operator_ids)
            | Q(target_operator_id__in=scope.operator_ids)
            | Q(accepted_by_id__in=scope.operator_ids)
        )
    return transfers


def _transfer_aggregates() -> dict:
    from transfers.models import TransferState

    accepted = Q(accepted_by__isnull=False)
    return {
        "requested": Count("pk"),
        "accepted": Count("pk", filter=accepted),
        "completed": Count("pk", filter=Q(state=TransferState.COMPLETED)),
        "declined": Count("pk", filter=Q(state=TransferState.DECLINED)),
        "expired": Count("pk", filter=Q(state=TransferState.EXPIRED)),
        "cancelled": Count("pk", filter=Q(state=TransferState.CANCELLED)),
        "open": Count("pk", filter=Q(state__in=[TransferState.REQUESTED, TransferState.ACCEPTED])),
        "avg_time_to_accept": Avg(Seconds(F("answered_at"), F("requested_at")), filter=accepted),
    }


def _finish_transfer_row(row: dict) -> dict:
    row["accept_rate"] = rate(row["accepted"], row["requested"])
    row["completion_rate"] = rate(row["completed"], row["requested"])
    return row


def transfer_metrics(*, scope: ReportScope, by: str) -> list[dict]:
    """Transfers requested, accepted, completed, declined, expired, cancelled, and time to accept, per group.

    `by`: "total", "day", "site", "queue" (of the engagement), "team" (the initiator's teams: an
    initiator in two teams counts in both; teams with no transfer are left out) or "operator"
    (the initiator).
    """
    transfers = transfers_in(scope)
    aggregates = _transfer_aggregates()
    if by == "total":
        return [_finish_transfer_row({"key": "total", "label": "All", **transfers.aggregate(**aggregates)})]
    if by == "team":
        out = []
        for team in teams_in(scope):
            row = transfers.filter(initiator__in=members_of(team)).aggregate(**aggregates)
            if row["requested"]:
                out.append(_finish_transfer_row({"key": team.pk, "label": str(team), **row}))
        return out
    if by == "day":
        key, names = TruncDate("requested_at", tzinfo=scope.zone), None
    elif by == "site":
        key, names = F("engagement__site_id"), dict(Site.objects.values_list("pk", "name"))
    elif by == "queue":
        key = F("engagement__queue_id")
        names = {q.pk: str(q) for q in Queue.objects.filter(site_id__in=scope.site_ids).select_related("site")}
    elif by == "operator":
        key, names = F("initiator_id"), dict(Operator.objects.values_list("pk", "display_name"))
    else:
        raise ValueError(f"Unknown grouping {by!r}")
    out = []
    for row in transfers.annotate(key=key).values("key").annotate(**aggregates).order_by("key"):
        row["label"] = row["key"].isoformat() if names is None else names.get(row["key"], str(row["key"]))
        out.append(_finish_transfer_row(row))
    return out


def decline_reasons(*, scope: ReportScope) -> list[dict]:
    """Declined offers (each operator who said no, queue transfers included) grouped by the reason given."""
    from transfers.models import TransferOffer

    offers = TransferOffer.objects.filter(transfer__in=transfers_in(scope), outcome=TransferOffer.Outcome.DECLINED)
    counts: dict[str, int] = {}
    for reason, declined in offers.values_list("reason_text").annotate(n=Count("pk")).values_list("reason_text", "n"):
        label = " ".join((reason or "").split()) or NO_REASON
        counts[label] = counts.get(label, 0) + declined
    return [
        {"label": label, "declined": n} for label, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


# --- Calls -----------------------------------------------------------------------------


CALL_GROUPINGS = ("day", "site", "queue", "team", "operator")


def call_metrics(*, scope: ReportScope, by: str) -> list[dict]:
    """Calls, consults, call transfers (the consult target took the call, or it went out to a number),
    conferences and cold transfers (summed from `Call.conferences` / `Call.cold_transfers`, which
    call control counts as the acts happen), average consult time; per "total", "day", "site",
    "queue", "operator" (the operator who answered the call: its first owner; calls nobody
    answered are left out) or "team" (the teams of the operator who answered: one in two teams
    counts in both; teams with no call are left out).
    """
    from telephony.models import Call, Leg

    if by != "total" and by not in CALL_GROUPINGS:
        raise ValueError(f"Unknown grouping {by!r}")
    calls = Call.objects.filter(engagement__in=engagements_in(scope).values("pk"))
    consult_kinds = [Leg.Kind.CONSULT, Leg.Kind.PHONE]
    taken_over = Ownership.objects.filter(
        engagement_id=OuterRef("engagement_id"), started_because=Ownership.Start.TRANSFERRED
    )
    consult_legs = Leg.objects.filter(call_id=OuterRef("pk"), kind__in=consult_kinds)
    phone_out = Leg.objects.filter(call_id=OuterRef("pk"), kind=Leg.Kind.PHONE, end_reason=Leg.EndReason.TRANSFERRED)

    rows = calls.annotate(
        n_consult_legs=_subquery_count(consult_legs),
        n_taken_over=_subquery_count(taken_over),
        n_phone_out=_subquery_count(phone_out),
    )
    legs = _consult_legs_in(scope)
    seconds = Avg(Seconds(F("ended_at"), F("initiated_at")))
    if by in ("total", "team"):
        groups = [("total", "All", Q(), Q())]
        if by == "team":
            groups = [
                (team.pk, str(team), Q(answered_by__in=members_of(team)), Q(answered_by__in=members_of(team)))
                for team in teams_in(scope)
            ]
            rows = rows.annotate(answered_by=first_owner_subquery("engagement_id"))
            legs = legs.annotate(answered_by=first_owner_subquery("call__engagement_id"))
        grouped = []
        for key, label, call_filter, leg_filter in groups:
            row = rows.filter(call_filter).aggregate(**_call_aggregates())
            if by == "team" and not row["calls"]:
                continue
            row.update(key=key, label=label, avg_consult=legs.filter(leg_filter).aggregate(s=seconds)["s"])
            grouped.append(row)
        return grouped
    call_key, leg_key = {
        "day": (
            TruncDate("engagement__created_at", tzinfo=scope.zone),
            TruncDate("call__engagement__created_at", tzinfo=scope.zone),
        ),
        "site": (F("engagement__site_id"), F("call__engagement__site_id")),
        "queue": (F("engagement__queue_id"), F("call__engagement__queue_id")),
        "operator": (first_owner_subquery("engagement_id"), first_owner_subquery("call__engagement_id")),
    }[by]
    if by == "operator":
        rows = rows.filter(engagement__answered_at__isnull=False)
    grouped = list(rows.annotate(key=call_key).values("key").annotate(**_call_aggregates()).order_by("key"))
    names = (
        dict(Site.objects.values_list("pk", "name"))
        if by == "site"
        else {q.pk: str(q) for q in Queue.objects.select_related("site")}
        if by == "queue"
        else dict(Operator.objects.filter(site_id__in=scope.site_ids).values_list("pk", "display_name"))
        if by == "operator"
        else {}
    )
    consult_seconds = {
        r["key"]: r["s"] for r in legs.annotate(key=leg_key).values("key").annotate(s=seconds).order_by()
    }
    out = []
    for row in grouped:
        if by == "operator" and row["key"] not in names:
            continue  # not answered (no first owner), or by an operator of another site
        row["label"] = row["key"].isoformat() if by == "day" else names.get(row["key"], str(row["key"]))
        row["avg_consult"] = consult_seconds.get(row["key"])
        out.append(row)
    return sorted(out, key=lambda r: r["label"]) if by == "operator" else out


def _subquery_count(queryset):
    counted = queryset.order_by().annotate(_n=Func(F("pk"), function="COUNT")).values("_n")
    return Coalesce(Subquery(counted[:1]), 0)


def _call_aggregates() -> dict:
    return {
        "calls": Count("pk"),
        "consults": Sum(F("n_consult_legs") + F("n_taken_over")),
        "call_transfers": Sum(F("n_taken_over") + F("n_phone_out")),
        "conferences": Coalesce(Sum("conferences"), 0),
        "cold_transfers": Coalesce(Sum("cold_transfers"), 0),
    }


def _consult_legs_in(scope: ReportScope):
    """Consult legs (to an operator, a skill or a number) of the scope's calls that ended, for the average consult."""
    from telephony.models import Leg

    return Leg.objects.filter(
        call__engagement__in=engagements_in(scope).values("pk"),
        kind__in=[Leg.Kind.CONSULT, Leg.Kind.PHONE],
        ended_at__isnull=False,
    )
