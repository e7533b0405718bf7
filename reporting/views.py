"""The reports page and the export downloads: parse filters, check the manager's sites, render or stream."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from . import charts, metrics, operations
from .exports import CONTENT_TYPES, DATASETS, streaming_response
from .scope import ReportFilterForm, can_view_reports, sites_visible_to

BREAKDOWNS = {"day": "Day", "site": "Site", "queue": "Queue", "team": "Team", "operator": "Operator"}
RAW_EXPORTS = ("engagements", "messages", "notes", "transfers", "calls", "legs", "availability_log")


def _filter_form(request):
    return ReportFilterForm(request.GET or None, sites=sites_visible_to(request.user))


def reports_page(request):
    """Figures, charts and download buttons over the manager's sites for the chosen range and filters."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not can_view_reports(request.user):
        raise PermissionDenied("Reports are for managers of a site.")
    form = _filter_form(request)
    scope = form.scope()
    by = request.GET.get("by") if request.GET.get("by") in BREAKDOWNS else "day"
    total = metrics.engagement_metrics(scope=scope, by="total")[0]
    daily = metrics.engagement_metrics(scope=scope, by="day")
    breakdown = daily if by == "day" else metrics.engagement_metrics(scope=scope, by=by)
    labels = [row["label"] for row in daily]
    context = {
        "form": form,
        "scope": scope,
        "total": total,
        "by": by,
        "breakdowns": BREAKDOWNS,
        "breakdown": breakdown,
        "operators": metrics.operator_metrics(scope=scope),
        "volume_chart": charts.stacked_bars(
            title="Daily volume",
            labels=labels,
            series=[
                ("s1", "Answered", [row["answered"] for row in daily]),
                ("s3", "Abandoned", [row["abandoned"] for row in daily]),
                ("s2", "Waiting", [row["waiting"] for row in daily]),
            ],
        ),
        "wait_chart": charts.lines(
            title="Daily wait in queue",
            labels=labels,
            series=[
                ("s1", "Average wait", [row["avg_wait"] for row in daily]),
                ("s4", "90th percentile", [row["p90_wait"] for row in daily]),
            ],
        ),
        "query": request.GET.urlencode(),
        "filter_query": _without(request.GET, "by"),
        "interval_query": _without(request.GET, "interval"),
        "raw_exports": [DATASETS[name] for name in RAW_EXPORTS if name in DATASETS],
    }
    context.update(_transfer_context(scope))
    context.update(_call_context(scope))
    context.update(_operations_context(scope, request.GET.get("interval")))
    return render(request, "reporting/reports.html", context)


def _without(querydict, *keys) -> str:
    copy = querydict.copy()
    for key in keys:
        copy.pop(key, None)
    return copy.urlencode()


def _transfer_context(scope) -> dict:
    totals = metrics.transfer_metrics(scope=scope, by="total")[0]
    reasons = metrics.decline_reasons(scope=scope)
    return {
        "transfers": totals,
        "transfer_outcomes_chart": charts.horizontal_bars(
            title="Transfer outcomes",
            items=[(label, totals[key]) for key, label in metrics.TRANSFER_OUTCOMES],
        ),
        "decline_reasons_chart": charts.horizontal_bars(
            title="Decline reasons", items=[(row["label"], row["declined"]) for row in reasons], css="s3"
        ),
        "decline_reasons": reasons,
    }


def _operations_context(scope, interval: str | None) -> dict:
    """Issue 14.6: the interval table (15/30/60 minutes, 60 unless asked) with its time-of-day profile,
    transfer flow per operator and queue, transfer reasons, after-contact work and dispositions."""
    minutes = int(interval) if interval in {str(m) for m in operations.INTERVALS} else 60
    intervals = operations.interval_metrics(scope=scope, minutes=minutes)
    reasons = operations.transfer_reasons(scope=scope)
    dispositions = operations.disposition_metrics(scope=scope)
    profile = _time_of_day_profile(intervals, minutes)
    by_name: dict[str, int] = {}
    for row in dispositions:  # the chart sums a code over queues; the table keeps them apart
        by_name[row["label"]] = by_name.get(row["label"], 0) + row["count"]
    return {
        "interval_minutes": minutes,
        "interval_minutes_str": str(minutes),
        "interval_choices": operations.INTERVALS,
        "intervals": intervals,
        "interval_chart": charts.stacked_bars(
            title=f"Arrivals per {minutes} minutes, by time of day",
            labels=list(profile),
            series=[
                ("s1", "Answered", [p["answered"] for p in profile.values()]),
                ("s3", "Abandoned", [p["abandoned"] for p in profile.values()]),
                ("s2", "Waiting", [p["waiting"] for p in profile.values()]),
            ],
        ),
        "flow_by_operator": operations.transfer_flow(scope=scope, by="operator"),
        "flow_by_queue": operations.transfer_flow(scope=scope, by="queue"),
        "transfer_reasons": reasons,
        "transfer_reasons_chart": charts.horizontal_bars(
            title="Transfer reasons", items=[(r["label"], r["requested"]) for r in reasons], css="s2"
        ),
        "wrap_up_by_operator": operations.wrap_up_metrics(scope=scope, by="operator"),
        "wrap_up_by_queue": operations.wrap_up_metrics(scope=scope, by="queue"),
        "dispositions": dispositions,
        "dispositions_chart": charts.horizontal_bars(
            title="Dispositions", items=sorted(by_name.items(), key=lambda item: -item[1]), css="s4"
        ),
    }


def _time_of_day_profile(intervals: list[dict], minutes: int) -> dict[str, dict]:
    """Arrivals per time of day summed over the range's days, every slot from the first busy one to
    the last (quiet ones as zeros, so the chart's axis is time)."""
    profile: dict[int, dict] = {}
    for row in intervals:
        start = row["start"]
        slot = profile.setdefault(start.hour * 60 + start.minute, {"answered": 0, "abandoned": 0, "waiting": 0})
        for key in slot:
            slot[key] += row[key]
    if not profile:
        return {}
    empty = {"answered": 0, "abandoned": 0, "waiting": 0}
    slots = range(min(profile), max(profile) + 1, minutes)
    return {f"{m // 60:02d}:{m % 60:02d}": profile.get(m, empty) for m in slots}


def _call_context(scope) -> dict:
    return {"calls": metrics.call_metrics(scope=scope, by="total")[0]}


@sync_to_async
def _export_scope(request):
    if not request.user.is_authenticated:
        return None
    if not can_view_reports(request.user):
        raise PermissionDenied("Exports are for managers of a site.")
    return _filter_form(request).scope()


async def export(request, name: str, fmt: str):
    """Stream one dataset as CSV or XLSX, limited to the caller's sites and the page's filters."""
    dataset = DATASETS.get(name)
    if dataset is None or fmt not in CONTENT_TYPES:
        raise Http404("No such export.")
    scope = await _export_scope(request)
    if scope is None:
        return redirect_to_login(request.get_full_path())
    return streaming_response(
        title=dataset.title,
        columns=dataset.columns,
        rows=lambda: dataset.rows(scope),
        csv_blocks=lambda: dataset.csv_blocks(scope),
        fmt=fmt,
        filename=dataset.filename(scope, fmt),
    )
