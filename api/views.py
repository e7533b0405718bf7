"""REST API views: parse, scope to the caller, call a selector or a service, serialise.

Every queryset is narrowed first (who may read what: `scoping.py`): the directory to the caller's
sites, conversations to a manager's sites or to those an operator took part in, so another
site's or another operator's object is simply "not found". Domain errors from services become
`{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.errors import DomainError, NotAllowed
from helpdesk.http import error_payload
from helpdesk.models import Engagement, Message, Note, Operator, Queue, Site, Team
from helpdesk.selectors import queue_stats
from helpdesk.services.engagements import add_note
from reporting import metrics, operations
from reporting.scope import build_scope
from supervision.audit import admin_changes_visible_to, supervisor_acts_visible_to
from telephony.models import Call, Leg
from transfers import services as transfer_services
from transfers.models import Transfer

from . import filters, serializers
from .scoping import caller_site_ids, conversation_q, managed_site_ids

ID_PATTERN = "[0-9]{1,18}"


class Cursor(CursorPagination):
    """Stable pages over live data: newest first by id (ids only grow)."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def error_response(error: DomainError) -> Response:
    """A refused act in the shape every JSON act of the product answers (helpdesk.http)."""
    return Response(error_payload(error), status=error.http_status)


def not_an_operator() -> Response:
    return error_response(NotAllowed("not_operator", "Only operators can do this."))


class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    """The directory (sites, teams, operators, queues): the caller's sites."""

    pagination_class = Cursor
    lookup_value_regex = ID_PATTERN
    site_path = "site"

    def scoped(self, queryset):
        return queryset.filter(**{f"{self.site_path}__in": caller_site_ids(self.request)})


class ConversationViewSet(ScopedViewSet):
    """Engagements and what hangs off them: a manager's sites, or what an operator took part in."""

    engagement_path = "engagement__"

    def scoped(self, queryset):
        return queryset.filter(conversation_q(self.request, self.engagement_path))


def readable_engagements(request):
    return Engagement.objects.filter(conversation_q(request))


class SiteViewSet(ScopedViewSet):
    """Sites you manage (all for a superuser; an operator's own site)."""

    serializer_class = serializers.SiteSerializer
    site_path = "pk"

    def get_queryset(self):
        return self.scoped(Site.objects.all())


class TeamViewSet(ScopedViewSet):
    serializer_class = serializers.TeamSerializer
    filterset_class = filters.TeamFilter

    def get_queryset(self):
        return self.scoped(Team.objects.all())


class OperatorViewSet(ScopedViewSet):
    """Operators with their availability per media (status, capacity, load)."""

    serializer_class = serializers.OperatorSerializer
    filterset_class = filters.OperatorFilter

    def get_queryset(self):
        return self.scoped(Operator.objects.prefetch_related("availabilities", "teams"))


class QueueViewSet(ScopedViewSet):
    """Queues with live figures: waiting now, longest current wait, operators available."""

    serializer_class = serializers.QueueSerializer
    filterset_class = filters.QueueFilter

    def get_queryset(self):
        return self.scoped(Queue.objects.prefetch_related("teams"))

    def get_serializer(self, *args, **kwargs):
        instance = args[0] if args else None
        if instance is not None:
            queues = instance if isinstance(instance, list) else [instance]
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["queue_stats"] = {s.queue.pk: s for s in queue_stats(queues=queues)}
        return super().get_serializer(*args, **kwargs)


class EngagementViewSet(ConversationViewSet):
    serializer_class = serializers.EngagementSerializer
    filterset_class = filters.EngagementFilter
    engagement_path = ""

    def get_queryset(self):
        return self.scoped(Engagement.objects.select_related("visitor"))

    @extend_schema(
        request=serializers.NoteCreateSerializer,
        responses={
            201: serializers.NoteSerializer,
            400: OpenApiResponse(description="Invalid body."),
            403: serializers.ErrorSerializer,
            404: OpenApiResponse(description="No such engagement among those you may see."),
            409: serializers.ErrorSerializer,
        },
        summary="Add an internal note to an engagement you own",
    )
    @action(detail=True, methods=["post"], url_path="notes", pagination_class=None, filterset_class=None)
    def add_note(self, request, pk=None):
        engagement = self.get_object()
        payload = serializers.NoteCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        operator = getattr(request.user, "operator", None)
        if operator is None:
            return not_an_operator()
        try:
            note = add_note(engagement_id=engagement.pk, author=operator, body=payload.validated_data["body"])
        except DomainError as error:
            return error_response(error)
        return Response(serializers.NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class MessageViewSet(ConversationViewSet):
    """Transcript lines; filter by engagement (and `after_seq` to resume)."""

    serializer_class = serializers.MessageSerializer
    filterset_class = filters.MessageFilter

    def get_queryset(self):
        return self.scoped(Message.objects.all())


class NoteViewSet(ConversationViewSet):
    serializer_class = serializers.NoteSerializer
    filterset_class = filters.NoteFilter

    def get_queryset(self):
        return self.scoped(Note.objects.all())


class TransferViewSet(mixins.CreateModelMixin, ConversationViewSet):
    """Chat transfers with every offer they made; POST starts one (you must own the engagement)."""

    serializer_class = serializers.TransferSerializer
    filterset_class = filters.TransferFilter

    def get_queryset(self):
        return self.scoped(Transfer.objects.prefetch_related("offers"))

    @extend_schema(
        request=serializers.TransferCreateSerializer,
        responses={
            201: serializers.TransferSerializer,
            400: serializers.ErrorSerializer,
            403: serializers.ErrorSerializer,
            404: OpenApiResponse(description="No such engagement among those you may see."),
            409: serializers.ErrorSerializer,
        },
        summary="Start a chat transfer to an operator or a queue",
    )
    def create(self, request, *args, **kwargs):
        payload = serializers.TransferCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        operator = getattr(request.user, "operator", None)
        if operator is None:
            return not_an_operator()
        engagement = readable_engagements(request).filter(pk=data["engagement"]).first()
        if engagement is None:
            return Response(
                {"error": {"code": "not_found", "message": "No such engagement among those you may see."}},
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            transfer = transfer_services.request_transfer(
                engagement_id=engagement.pk,
                initiator=operator,
                target_operator_id=data.get("target_operator"),
                target_queue_id=data.get("target_queue"),
                warm_message=data.get("warm_message", ""),
            )
        except DomainError as error:
            return error_response(error)
        transfer = Transfer.objects.prefetch_related("offers").get(pk=transfer.pk)
        return Response(serializers.TransferSerializer(transfer).data, status=status.HTTP_201_CREATED)


class CallViewSet(ConversationViewSet):
    """Calls with their legs (each party's connection and the time it reached each state)."""

    serializer_class = serializers.CallSerializer
    filterset_class = filters.CallFilter

    def get_queryset(self):
        return self.scoped(
            Call.objects.select_related("engagement").prefetch_related(Prefetch("legs", Leg.objects.order_by("pk")))
        )


class LegViewSet(ConversationViewSet):
    serializer_class = serializers.LegSerializer
    filterset_class = filters.LegFilter
    engagement_path = "call__engagement__"

    def get_queryset(self):
        return self.scoped(Leg.objects.all())


NOT_MANAGER = Response(
    {"error": {"code": "not_manager", "message": "Figures are for managers of a site."}},
    status=status.HTTP_403_FORBIDDEN,
)


def metrics_scope(request, data: dict):
    """The report scope of a metrics query over the caller's managed sites; None for a non-manager."""
    site_ids = managed_site_ids(request)
    if not site_ids:
        return None

    def ids(name):
        return [data[name]] if data.get(name) else ()

    scope = build_scope(
        sites=Site.objects.filter(pk__in=site_ids),
        start_date=data.get("start"),
        end_date=data.get("end"),
        site_ids=ids("site"),
        queue_ids=ids("queue"),
        team_ids=ids("team"),
        operator_ids=ids("operator"),
    )
    if data.get("site") and not scope.site_ids:
        scope.site_ids = []  # a site you may not see: no figures, not all of yours
    return scope


class MetricsView(APIView):
    """Contact-centre figures over a date range (definitions in docs/metrics.md) for the sites you manage.

    Every table honours `by` (day, site, queue, team, operator, or the total) except the decline
    reasons (grouped by reason) and the operator table (one row per operator). Site-wide figures
    are for managers: an operator who manages no site is refused (403), as on the reports page.
    """

    @extend_schema(
        parameters=[serializers.MetricsQuerySerializer],
        responses={
            200: serializers.MetricsSerializer,
            400: OpenApiResponse(description="Invalid parameters."),
            403: serializers.ErrorSerializer,
        },
    )
    def get(self, request):
        query = serializers.MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        scope = metrics_scope(request, data)
        if scope is None:
            return NOT_MANAGER
        by = data["by"]
        rows = {
            "start": scope.start,
            "end": scope.end,
            "time_zone": scope.zone.key,
            "by": by,
            "engagements": metrics.engagement_metrics(scope=scope, by=by),
            "transfers": metrics.transfer_metrics(scope=scope, by=by),
            "decline_reasons": metrics.decline_reasons(scope=scope),
            "calls": metrics.call_metrics(scope=scope, by=by),
            "operators": metrics.operator_metrics(scope=scope),
        }
        for table in ("engagements", "transfers", "calls", "operators"):
            for row in rows[table]:
                row["key"] = str(row["key"])
        return Response(serializers.MetricsSerializer(rows).data)


class OperationsMetricsView(APIView):
    """Operations figures over a date range (issue 14.6; definitions in docs/metrics.md): the interval
    table (15, 30 or 60 minutes), transfer flow per operator and per queue, transfer reasons,
    after-contact work per operator and per queue, and dispositions. Managers only (403 otherwise)."""

    @extend_schema(
        parameters=[serializers.OperationsQuerySerializer],
        responses={
            200: serializers.OperationsMetricsSerializer,
            400: OpenApiResponse(description="Invalid parameters."),
            403: serializers.ErrorSerializer,
        },
    )
    def get(self, request):
        query = serializers.OperationsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        scope = metrics_scope(request, data)
        if scope is None:
            return NOT_MANAGER
        minutes = data["interval"]
        rows = {
            "start": scope.start,
            "end": scope.end,
            "time_zone": scope.zone.key,
            "interval_minutes": minutes,
            "intervals": operations.interval_metrics(scope=scope, minutes=minutes),
            "transfer_flow_by_operator": operations.transfer_flow(scope=scope, by="operator"),
            "transfer_flow_by_queue": operations.transfer_flow(scope=scope, by="queue"),
            "transfer_reasons": operations.transfer_reasons(scope=scope),
            "wrap_up_by_operator": operations.wrap_up_metrics(scope=scope, by="operator"),
            "wrap_up_by_queue": operations.wrap_up_metrics(scope=scope, by="queue"),
            "dispositions": operations.disposition_metrics(scope=scope),
        }
        return Response(serializers.OperationsMetricsSerializer(rows).data)


class ManagersOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail: managers of a site read it (a superuser: all of it); anyone else is refused (403)."""

    pagination_class = Cursor
    lookup_value_regex = ID_PATTERN

    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs) if managed_site_ids(request) else NOT_AUDITOR

    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs) if managed_site_ids(request) else NOT_AUDITOR


NOT_AUDITOR = Response(
    {"error": {"code": "not_manager", "message": "The audit trail is for managers of a site."}},
    status=status.HTTP_403_FORBIDDEN,
)
AUDIT_RESPONSES = {403: serializers.ErrorSerializer}


@extend_schema_view(
    list=extend_schema(responses={200: serializers.SupervisorActSerializer(many=True), **AUDIT_RESPONSES}),
    retrieve=extend_schema(responses={200: serializers.SupervisorActSerializer, **AUDIT_RESPONSES}),
)
class SupervisorActViewSet(ManagersOnlyViewSet):
    """Every supervisor act (monitor, whisper, barge, take over, reassign, force offline, listen, coach)
    on the sites you manage: who, what, on which engagement or operator, when. Newest first."""

    serializer_class = serializers.SupervisorActSerializer
    filterset_class = filters.SupervisorActFilter

    def get_queryset(self):
        return supervisor_acts_visible_to(self.request.user).select_related("actor", "operator")


@extend_schema_view(
    list=extend_schema(responses={200: serializers.AdminChangeSerializer(many=True), **AUDIT_RESPONSES}),
    retrieve=extend_schema(responses={200: serializers.AdminChangeSerializer, **AUDIT_RESPONSES}),
)
class AdminChangeViewSet(ManagersOnlyViewSet):
    """Changes made in the admin to objects of the sites you manage, by anyone (a superuser: every
    change). Newest first. Changes of objects with no site (users) or deleted ones are for superusers."""

    serializer_class = serializers.AdminChangeSerializer
    filterset_class = filters.AdminChangeFilter

    def get_queryset(self):
        return admin_changes_visible_to(self.request.user).select_related("user", "content_type")
