"""Who may see which sites, and the report filters (date range, site, queue, team, operator).

Every report, export, admin action, command and API read starts from a `ReportScope`, so
site scoping is decided in one place: a manager sees the sites they manage, a superuser
all sites, an operator (API only) their own site.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from helpdesk.models import Operator, Ownership, Queue, Site, Team
from helpdesk.selectors import sites_managed_by

DEFAULT_RANGE_DAYS = 7
MAX_RANGE_DAYS = 366


def sites_visible_to(user, *, include_own_site: bool = False) -> QuerySet[Site]:
    """Sites whose data `user` may read: managed ones (all for a superuser); an operator's own on request."""
    if not user or not user.is_authenticated:
        return Site.objects.none()
    sites = sites_managed_by(user)
    if include_own_site and not user.is_superuser:
        operator = getattr(user, "operator", None)
        if operator is not None:
            sites = Site.objects.filter(Q(managers=user) | Q(pk=operator.site_id)).distinct()
    return sites


def can_view_reports(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or sites_managed_by(user).exists()))


@dataclass
class ReportScope:
    """The rows a report may touch: site ids the caller may see, narrowed by the filters.

    `start`/`end` are aware datetimes (end exclusive) in `zone`, the report's time zone.
    """

    site_ids: list[int]
    start: datetime
    end: datetime
    zone: zoneinfo.ZoneInfo
    queue_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)
    operator_ids: list[int] = field(default_factory=list)

    @property
    def days(self) -> list[date]:
        first = self.start.astimezone(self.zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(self.zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def engagement_q(self, prefix: str = "") -> Q:
        """Engagements in scope: on the sites, created within the range, narrowed by queue/team/operator."""
        p = prefix
        q = Q(**{f"{p}site_id__in": self.site_ids, f"{p}created_at__gte": self.start, f"{p}created_at__lt": self.end})
        if self.queue_ids:
            q &= Q(**{f"{p}queue_id__in": self.queue_ids})
        # Subqueries, not joins: a queue served by two teams must not count its engagements twice.
        if self.team_ids:
            q &= Q(**{f"{p}queue_id__in": Queue.objects.filter(teams__in=self.team_ids).values("pk")})
        if self.operator_ids:
            held = Ownership.objects.filter(operator_id__in=self.operator_ids).values("engagement_id")
            q &= Q(**{f"{p}pk__in" if not p else f"{p}id__in": held})
        return q

    def operator_q(self, prefix: str = "") -> Q:
        """Operators in scope: of the sites, narrowed by team and operator."""
        p = prefix
        q = Q(**{f"{p}site_id__in": self.site_ids})
        if self.team_ids:
            q &= Q(
                **{
                    f"{p}pk__in" if not p else f"{p}id__in": Operator.objects.filter(teams__in=self.team_ids).values(
                        "pk"
                    )
                }
            )
        if self.operator_ids:
            q &= Q(**{f"{p}pk__in" if not p else f"{p}id__in": self.operator_ids})
        return q


def zone_for(sites) -> zoneinfo.ZoneInfo:
    """The report's time zone: the site's own when one site is shown, else the project's."""
    names = {site.time_zone for site in sites}
    name = names.pop() if len(names) == 1 else settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def build_scope(
    *,
    sites,
    start_date: date | None = None,
    end_date: date | None = None,
    site_ids=(),
    queue_ids=(),
    team_ids=(),
    operator_ids=(),
) -> ReportScope:
    """A scope over the visible `sites`; ids of other sites' objects are silently dropped."""
    visible = list(sites)
    chosen = [s for s in visible if s.pk in set(site_ids)] if site_ids else visible
    chosen_ids = [s.pk for s in chosen]
    zone = zone_for(chosen)
    today = timezone.now().astimezone(zone).date()
    end_date = end_date or today
    start_date = start_date or end_date - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start_date > end_date:
        start_date, end_date = end_date, start_date
    start = datetime.combine(start_date, time.min, tzinfo=zone)
    end = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
    return ReportScope(
        site_ids=chosen_ids,
        start=start,
        end=end,
        zone=zone,
        queue_ids=list(Queue.objects.filter(site_id__in=chosen_ids, pk__in=queue_ids).values_list("pk", flat=True))
        if queue_ids
        else [],
        team_ids=list(Team.objects.filter(site_id__in=chosen_ids, pk__in=team_ids).values_list("pk", flat=True))
        if team_ids
        else [],
        operator_ids=list(
            Operator.objects.filter(site_id__in=chosen_ids, pk__in=operator_ids).values_list("pk", flat=True)
        )
        if operator_ids
        else [],
    )


class ReportFilterForm(forms.Form):
    """The filters of the reports page and the export links (GET parameters)."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All my sites")
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), required=False, empty_label="All queues")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="All teams")
    operator = forms.ModelChoiceField(queryset=Operator.objects.none(), required=False, empty_label="All operators")

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.sites = sites
        self.fields["site"].queryset = sites
        self.fields["queue"].queryset = Queue.objects.filter(site__in=sites).select_related("site")
        self.fields["team"].queryset = Team.objects.filter(site__in=sites).select_related("site")
        self.fields["operator"].queryset = Operator.objects.filter(site__in=sites)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        if start and end and (end - start).days > MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Pick at most {MAX_RANGE_DAYS} days.")
        return data

    def scope(self) -> ReportScope:
        """The scope of the valid filters: a stale or foreign id is dropped, not the whole request.

        A date range the form refused (unreadable, start after end, longer than MAX_RANGE_DAYS)
        is not used: the default range applies, and the form keeps its error for the page to show.
        """
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if self.has_error("start") or self.has_error("end") or self.non_field_errors():
            data = {**data, "start": None, "end": None}
        return build_scope(
            sites=self.sites,
            start_date=data.get("start"),
            end_date=data.get("end"),
            site_ids=[data["site"].pk] if data.get("site") else (),
            queue_ids=[data["queue"].pk] if data.get("queue") else (),
            team_ids=[data["team"].pk] if data.get("team") else (),
            operator_ids=[data["operator"].pk] if data.get("operator") else (),
        )
