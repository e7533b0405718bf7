"""What the API shows of each object; no business logic here (writes go through services)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.models import LogEntry
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from helpdesk.models import Availability, Engagement, Message, Note, Operator, Queue, Site, Team
from helpdesk.selectors import queue_stats
from supervision.audit import ACTIONS
from supervision.models import SupervisorAct
from telephony.models import Call, Leg
from transfers.models import Transfer, TransferOffer


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "name", "time_zone"]


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "site", "name"]


class AvailabilitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Availability
        fields = ["media", "status", "capacity", "load", "changed_at", "idle_since"]


class OperatorSerializer(serializers.ModelSerializer):
    availability = AvailabilitySerializer(source="availabilities", many=True, read_only=True)
    teams = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Operator
        fields = ["id", "display_name", "site", "teams", "availability"]


class QueueStatsSerializer(serializers.Serializer):
    waiting = serializers.IntegerField()
    longest_wait_seconds = serializers.IntegerField()
    available_operators = serializers.IntegerField()


class QueueSerializer(serializers.ModelSerializer):
    teams = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    live = serializers.SerializerMethodField(help_text="Waiting now, the current longest wait, operators available.")

    class Meta:
        model = Queue
        fields = [
            "id",
            "site",
            "name",
            "media",
            "teams",
            "is_default",
            "accept_timeout_seconds",
            "service_level_seconds",
            "service_level_target_percent",
            "cold_transfer_allowed",
            "live",
        ]

    @extend_schema_field(QueueStatsSerializer)
    def get_live(self, queue):
        stats = self.context.get("queue_stats", {}).get(queue.pk)
        if stats is None:
            stats = queue_stats(queues=[queue])[0]
        return QueueStatsSerializer(stats).data


class EngagementSerializer(serializers.ModelSerializer):
    visitor_name = serializers.CharField(source="visitor.display_name", read_only=True)
    wait_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Engagement
        fields = [
            "id",
            "site",
            "queue",
            "media",
            "state",
            "visitor_name",
            "owner",
            "created_at",
            "queued_at",
            "answered_at",
            "ended_at",
            "end_reason",
            "wait_seconds",
            "last_seq",
        ]

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_wait_seconds(self, engagement) -> float | None:
        stop = engagement.answered_at or engagement.ended_at
        return (stop - engagement.created_at).total_seconds() if stop else None


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "engagement", "seq", "sender", "operator", "body", "created_at"]


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "engagement", "author", "source", "body", "created_at"]


class NoteCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=settings.MESSAGE_MAX_LENGTH, trim_whitespace=True)


class TransferOfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = TransferOffer
        fields = ["operator", "outcome", "reason", "reason_text", "offered_at", "expires_at", "answered_at"]


class TransferSerializer(serializers.ModelSerializer):
    offers = TransferOfferSerializer(many=True, read_only=True)

    class Meta:
        model = Transfer
        fields = [
            "id",
            "engagement",
            "initiator",
            "target_operator",
            "target_queue",
            "offered_to",
            "accepted_by",
            "state",
            "end_reason",
            "reason_text",
            "requested_at",
            "expires_at",
            "answered_at",
            "completed_at",
            "ended_at",
            "offers",
        ]


class TransferCreateSerializer(serializers.Serializer):
    """Start a chat transfer of an engagement you own to one operator or one queue."""

    engagement = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    target_operator = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    target_queue = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    warm_message = serializers.CharField(required=False, allow_blank=True, max_length=settings.MESSAGE_MAX_LENGTH)

    def validate(self, data):
        if (data.get("target_operator") is None) == (data.get("target_queue") is None):
            raise serializers.ValidationError("Give exactly one of target_operator and target_queue.")
        return data


class LegSerializer(serializers.ModelSerializer):
    class Meta:
        model = Leg
        fields = [
            "id",
            "call",
            "kind",
            "operator",
            "queue",
            "phone_number",
            "state",
            "end_reason",
            "initiated_at",
            "ringing_at",
            "connected_at",
            "held_at",
            "ended_at",
        ]


class CallSerializer(serializers.ModelSerializer):
    legs = LegSerializer(many=True, read_only=True)
    site = serializers.IntegerField(source="engagement.site_id", read_only=True)
    queue = serializers.IntegerField(source="engagement.queue_id", read_only=True)

    class Meta:
        model = Call
        fields = ["id", "engagement", "site", "queue", "mode", "initiator", "provider", "created_at", "legs"]


# --- Metrics -------------------------------------------------------------------------


class MetricsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (in the report's time zone).")
    end = serializers.DateField(required=False, help_text="Last day, included. Default: today; range default 7 days.")
    site = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    queue = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    team = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    operator = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    by = serializers.ChoiceField(
        choices=["total", "day", "site", "queue", "team", "operator"],
        default="total",
        help_text="Grouping of the engagement, transfer and call tables (docs/metrics.md defines each one).",
    )

    def validate(self, data):
        if data.get("start") and data.get("end"):
            if data["start"] > data["end"]:
                raise serializers.ValidationError("start is after end.")
            if (data["end"] - data["start"]).days > 366:
                raise serializers.ValidationError("Pick at most 366 days.")
        return data


class EngagementMetricsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    offered = serializers.IntegerField()
    answered = serializers.IntegerField()
    abandoned = serializers.IntegerField()
    waiting = serializers.IntegerField()
    abandonment_rate = serializers.FloatField(allow_null=True)
    avg_wait = serializers.FloatField(allow_null=True, help_text="Seconds.")
    p90_wait = serializers.FloatField(allow_null=True, help_text="Seconds.")
    asa = serializers.FloatField(allow_null=True, help_text="Average speed of answer, seconds.")
    within_sl = serializers.IntegerField()
    service_level = serializers.FloatField(allow_null=True)
    aht = serializers.FloatField(allow_null=True, help_text="Average handle time, seconds.")
    transferred = serializers.IntegerField()
    transfer_rate = serializers.FloatField(allow_null=True)


class TransferMetricsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    requested = serializers.IntegerField()
    accepted = serializers.IntegerField()
    completed = serializers.IntegerField()
    declined = serializers.IntegerField()
    expired = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    open = serializers.IntegerField()
    accept_rate = serializers.FloatField(allow_null=True)
    completion_rate = serializers.FloatField(allow_null=True)
    avg_time_to_accept = serializers.FloatField(allow_null=True, help_text="Seconds.")


class DeclineReasonSerializer(serializers.Serializer):
    label = serializers.CharField()
    declined = serializers.IntegerField()


class CallMetricsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    calls = serializers.IntegerField()
    consults = serializers.IntegerField(allow_null=True)
    call_transfers = serializers.IntegerField(allow_null=True)
    conferences = serializers.IntegerField()
    cold_transfers = serializers.IntegerField()
    avg_consult = serializers.FloatField(allow_null=True, help_text="Seconds.")


class OperatorMetricsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    handled = serializers.IntegerField()
    aht = serializers.FloatField(allow_null=True)
    transferred_in = serializers.IntegerField()
    transferred_out = serializers.IntegerField()
    available_seconds = serializers.FloatField()
    busy_seconds = serializers.FloatField()
    away_seconds = serializers.FloatField()
    offline_seconds = serializers.FloatField()


class MetricsSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    time_zone = serializers.CharField()
    by = serializers.CharField()
    engagements = EngagementMetricsSerializer(many=True)
    transfers = TransferMetricsSerializer(many=True)
    decline_reasons = DeclineReasonSerializer(many=True)
    calls = CallMetricsSerializer(many=True)
    operators = OperatorMetricsSerializer(many=True)


class OperationsQuerySerializer(MetricsQuerySerializer):
    by = None  # every operations table has its own grouping
    interval = serializers.ChoiceField(choices=[15, 30, 60], default=60, help_text="Minutes per interval row.")


class IntervalMetricsSerializer(EngagementMetricsSerializer):
    key = serializers.CharField(help_text="The interval's start, ISO 8601 in the report's time zone.")


class TransferFlowSerializer(serializers.Serializer):
    label = serializers.CharField()
    out = serializers.IntegerField(help_text="Transfers asked for by the operator / of the queue's engagements.")
    transfers_in = serializers.IntegerField(
        source="in", help_text="Transfers taken by the operator / sent to the queue."
    )
    declined = serializers.IntegerField()
    handled = serializers.IntegerField(required=False, help_text="Per operator: stretches of work begun in range.")
    answered = serializers.IntegerField(required=False, help_text="Per queue: engagements answered.")
    transfer_rate = serializers.FloatField(allow_null=True)


class TransferReasonSerializer(serializers.Serializer):
    label = serializers.CharField()
    code = serializers.CharField()
    requested = serializers.IntegerField()
    completed = serializers.IntegerField()
    declined = serializers.IntegerField()


class WrapUpMetricsSerializer(serializers.Serializer):
    label = serializers.CharField()
    wrap_ups = serializers.IntegerField()
    open = serializers.IntegerField()
    timed_out = serializers.IntegerField()
    acw_seconds = serializers.FloatField()
    avg_acw = serializers.FloatField(allow_null=True)


class DispositionMetricsSerializer(serializers.Serializer):
    queue = serializers.CharField()
    label = serializers.CharField()
    code = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class OperationsMetricsSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    time_zone = serializers.CharField()
    interval_minutes = serializers.IntegerField()
    intervals = IntervalMetricsSerializer(many=True)
    transfer_flow_by_operator = TransferFlowSerializer(many=True)
    transfer_flow_by_queue = TransferFlowSerializer(many=True)
    transfer_reasons = TransferReasonSerializer(many=True)
    wrap_up_by_operator = WrapUpMetricsSerializer(many=True)
    wrap_up_by_queue = WrapUpMetricsSerializer(many=True)
    dispositions = DispositionMetricsSerializer(many=True)


class SupervisorActSerializer(serializers.ModelSerializer):
    act_label = serializers.CharField(source="get_act_display", read_only=True)
    actor_name = serializers.CharField(source="actor.username", read_only=True)
    operator_name = serializers.CharField(source="operator.display_name", read_only=True, default="")

    class Meta:
        model = SupervisorAct
        fields = [
            "id",
            "site",
            "created_at",
            "actor",
            "actor_name",
            "act",
            "act_label",
            "engagement",
            "operator",
            "operator_name",
            "detail",
        ]


ACTION_WORDS = {flag: word for word, flag in ACTIONS.items()}


class AdminChangeSerializer(serializers.ModelSerializer):
    """One change made in the admin (django.contrib.admin's LogEntry)."""

    user_name = serializers.CharField(source="user.username", read_only=True)
    action = serializers.SerializerMethodField(help_text="added, changed or deleted.")
    object_type = serializers.SerializerMethodField(help_text='The object\'s model, "app_label.model".')
    change_message = serializers.CharField(
        source="get_change_message", read_only=True, help_text="What changed, in words."
    )

    class Meta:
        model = LogEntry
        fields = [
            "id",
            "action_time",
            "user",
            "user_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "change_message",
        ]

    def get_action(self, entry) -> str:
        return ACTION_WORDS.get(entry.action_flag, "")

    def get_object_type(self, entry) -> str:
        return f"{entry.content_type.app_label}.{entry.content_type.model}" if entry.content_type_id else ""


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
