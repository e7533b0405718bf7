"""Reads of supervision shared by the pages, the socket and the API."""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.utils import timezone

from helpdesk.models import Engagement, Operator, Queue, Site
from reporting import metrics
from reporting.scope import ReportScope, build_scope, zone_for
from telephony.models import Call, Leg

from . import frames
from .models import Watch
from .permissions import supervised_site_ids


def open_watches_of(*, engagement_id: int) -> list[Watch]:
    return list(
        Watch.objects.filter(engagement_id=engagement_id, ended_at__isnull=True)
        .select_related("supervisor__operator")
        .order_by("started_at", "pk")
    )


def watchers_of_operators_engagements(*, operator: Operator) -> list[dict]:
    """An `engagement.watchers` frame for each live engagement `operator` owns, empty lists included:
    what the console redraws its "watched by" badges from after a (re)connect."""
    live = Engagement.objects.filter(
        owner=operator, state__in=[Engagement.State.QUEUED, Engagement.State.ACTIVE]
    ).values_list("pk", flat=True)
    watches: dict[int, list[Watch]] = {engagement_id: [] for engagement_id in live}
    for watch in (
        Watch.objects.filter(engagement_id__in=list(watches), ended_at__isnull=True)
        .select_related("supervisor__operator")
        .order_by("started_at", "pk")
    ):
        watches[watch.engagement_id].append(watch)
    return [frames.watchers_frame(engagement_id, watches=rows) for engagement_id, rows in sorted(watches.items())]


def live_calls(engagements) -> dict[int, dict]:
    """The calls of these engagements by engagement id, with the supervisors on each (open
    supervisor legs): what the wallboard's Listen / Coach / Barge / Take over / Leave work on."""
    calls = {
        call.engagement_id: call for call in Call.objects.filter(engagement__in=engagements, engagement__media="voice")
    }
    legs: dict[int, list[Leg]] = {}
    for leg in (
        Leg.objects.filter(call__in=calls.values(), kind=Leg.Kind.SUPERVISOR, state__in=Leg.OPEN_STATES)
        .select_related("supervisor__operator")
        .order_by("pk")
    ):
        legs.setdefault(leg.call_id, []).append(leg)
    return {engagement_id: frames.call_row(call, legs.get(call.pk, [])) for engagement_id, call in calls.items()}


def calls_supervised_by(user) -> list[int]:
    """Calls where the user has an open supervisor leg (their socket follows those calls)."""
    return list(
        Leg.objects.filter(supervisor=user, kind=Leg.Kind.SUPERVISOR, state__in=Leg.OPEN_STATES).values_list(
            "call_id", flat=True
        )
    )


def supervised_sites(user) -> list[Site]:
    return list(Site.objects.filter(pk__in=supervised_site_ids(user)).order_by("name"))


def today_scope(sites: list[Site]) -> ReportScope:
    """Today in the sites' time zone: the same scope /reports/ builds for today's date."""
    today = timezone.now().astimezone(zone_for(sites)).date()
    return build_scope(sites=sites, start_date=today, end_date=today)


def wallboard(*, sites: list[Site]) -> dict:
    """The wallboard's figures, read now. Today's answered, abandoned, service level and speed of
    answer are `reporting.metrics.engagement_metrics` over today's scope (one implementation with
    /reports/); waiting and longest wait are live, as are the operators' states."""
    site_ids = [s.pk for s in sites]
    if not site_ids:
        return {"sites": [], "queues": [], "operators": [], "live": []}
    scope = today_scope(sites)
    today_by_queue = {row["key"]: row for row in metrics.engagement_metrics(scope=scope, by="queue")}
    today_by_site = {row["key"]: row for row in metrics.engagement_metrics(scope=scope, by="site")}
    queues = (
        Queue.objects.filter(site_id__in=site_ids)
        .annotate(
            waiting=Count("engagements", filter=Q(engagements__state=Engagement.State.QUEUED)),
            oldest=Min("engagements__queued_at", filter=Q(engagements__state=Engagement.State.QUEUED)),
        )
        .order_by("site__name", "name")
    )
    queue_rows = [
        frames.queue_row(queue, today=today_by_queue.get(queue.pk), waiting=queue.waiting, oldest=queue.oldest)
        for queue in queues
    ]
    site_rows = []
    for site in sites:
        mine = [q for q in queue_rows if q["site_id"] == site.pk]
        oldest = min((q["oldest_queued_at"] for q in mine if q["oldest_queued_at"]), default=None)
        site_rows.append(frames.site_row(site, today=today_by_site.get(site.pk), queues=mine, oldest_iso=oldest))
    operators = (
        Operator.objects.filter(site_id__in=site_ids, user__is_active=True)
        .prefetch_related("availabilities")
        .order_by("display_name")
    )
    live = (
        Engagement.objects.filter(site_id__in=site_ids, state__in=[Engagement.State.QUEUED, Engagement.State.ACTIVE])
        .select_related("visitor", "queue", "owner")
        .order_by("created_at", "pk")
    )
    watches: dict[int, list[Watch]] = {}
    for watch in (
        Watch.objects.filter(engagement__in=live, ended_at__isnull=True)
        .select_related("supervisor__operator")
        .order_by("started_at", "pk")
    ):
        watches.setdefault(watch.engagement_id, []).append(watch)
    calls = live_calls(live)
    return {
        "sites": site_rows,
        "queues": queue_rows,
        "operators": [frames.operator_row(o, list(o.availabilities.all())) for o in operators],
        "live": [frames.live_row(e, watches=watches.get(e.pk, []), call=calls.get(e.pk)) for e in live],
    }
