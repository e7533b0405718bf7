"""Query filters of the list endpoints (django-filter); ids of other sites simply match nothing."""

from __future__ import annotations

from datetime import UTC

import django_filters as filters
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from helpdesk.models import Engagement, Message, Note, Operator, Queue, Team
from supervision.audit import ACTIONS
from supervision.models import SupervisorAct
from telephony.models import Call, Leg
from transfers.models import Transfer


class IdFilter(filters.NumberFilter):
    """An id: a whole number (bigger than any id matches nothing rather than failing)."""

    def filter(self, qs, value):
        if value is not None and (value != int(value) or not 0 < value < 2**63):
            return qs.none()
        return super().filter(qs, int(value) if value is not None else value)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, turned into UTC here: PostgreSQL refuses offsets past ±15:59 ("+23:57"
    is valid ISO 8601) with a server error, and a moment UTC cannot hold is the client's mistake."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This date and time is out of range.", code="out_of_range") from None


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class TeamFilter(filters.FilterSet):
    site = IdFilter(field_name="site_id")

    class Meta:
        model = Team
        fields = ["site"]


class OperatorFilter(filters.FilterSet):
    site = IdFilter(field_name="site_id")
    team = IdFilter(field_name="teams")
    status = filters.ChoiceFilter(
        field_name="availabilities__status",
        choices=[(s, s) for s in ("available", "busy", "away", "offline")],
        distinct=True,
        help_text="Operators with this status on at least one media.",
    )

    class Meta:
        model = Operator
        fields = ["site", "team", "status"]


class QueueFilter(filters.FilterSet):
    site = IdFilter(field_name="site_id")

    class Meta:
        model = Queue
        fields = ["site", "media"]


class EngagementFilter(filters.FilterSet):
    site = IdFilter(field_name="site_id")
    queue = IdFilter(field_name="queue_id")
    owner = IdFilter(field_name="owner_id")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Engagement
        fields = ["site", "queue", "owner", "state", "media", "end_reason"]


class MessageFilter(filters.FilterSet):
    engagement = IdFilter(field_name="engagement_id")
    after_seq = filters.NumberFilter(field_name="seq", lookup_expr="gt", help_text="Messages after this seq.")

    class Meta:
        model = Message
        fields = ["engagement", "sender"]


class NoteFilter(filters.FilterSet):
    engagement = IdFilter(field_name="engagement_id")

    class Meta:
        model = Note
        fields = ["engagement", "source"]


class TransferFilter(filters.FilterSet):
    engagement = IdFilter(field_name="engagement_id")
    initiator = IdFilter(field_name="initiator_id")
    requested_after = MomentFilter(field_name="requested_at", lookup_expr="gte")
    requested_before = MomentFilter(field_name="requested_at", lookup_expr="lt")

    class Meta:
        model = Transfer
        fields = ["engagement", "initiator", "state"]


class CallFilter(filters.FilterSet):
    engagement = IdFilter(field_name="engagement_id")
    site = IdFilter(field_name="engagement__site_id")

    class Meta:
        model = Call
        fields = ["engagement", "site", "mode"]


class LegFilter(filters.FilterSet):
    call = IdFilter(field_name="call_id")
    operator = IdFilter(field_name="operator_id")

    class Meta:
        model = Leg
        fields = ["call", "operator", "kind", "state"]


class SupervisorActFilter(filters.FilterSet):
    site = IdFilter(field_name="site_id")
    actor = IdFilter(field_name="actor_id", help_text="The supervisor's user id.")
    engagement = IdFilter(field_name="engagement_id")
    operator = IdFilter(field_name="operator_id", help_text="The operator the act concerned.")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SupervisorAct
        fields = ["site", "act", "actor", "engagement", "operator"]


class AdminChangeFilter(filters.FilterSet):
    action = filters.ChoiceFilter(choices=[(word, word) for word in ACTIONS], method="filter_action")
    actor = IdFilter(field_name="user_id", help_text="The user id of who made the change.")
    object_type = filters.CharFilter(method="filter_object_type", help_text='"app_label.model", e.g. "helpdesk.queue".')
    object_id = filters.CharFilter(field_name="object_id")
    engagement = filters.NumberFilter(method="filter_engagement", help_text="Changes of this engagement.")
    changed_after = MomentFilter(field_name="action_time", lookup_expr="gte")
    changed_before = MomentFilter(field_name="action_time", lookup_expr="lt")

    class Meta:
        model = LogEntry
        fields = ["action", "actor", "object_type", "object_id", "engagement"]

    def filter_action(self, queryset, name, value):
        return queryset.filter(action_flag=ACTIONS[value])

    def filter_object_type(self, queryset, name, value):
        app_label, _, model = value.partition(".")
        return queryset.filter(content_type__app_label=app_label, content_type__model=model.lower())

    def filter_engagement(self, queryset, name, value):
        if value != int(value) or not 0 < value < 2**63:
            return queryset.none()
        return queryset.filter(
            content_type__app_label="helpdesk", content_type__model="engagement", object_id=str(int(value))
        )
