"""Calls in the managers' admin: read-only history of every call and its legs, scoped to the
manager's sites (helpdesk.admin.scoping). Calls change only through call control."""

from __future__ import annotations

from django.contrib import admin

from helpdesk.admin.scoping import ReadOnlyScopedAdmin, ReadOnlyScopedInline

from .models import Call, Leg, ProviderEvent


class LegInline(ReadOnlyScopedInline):
    model = Leg
    site_path = "call__engagement__site"
    fields = [
        "kind", "role", "party", "state", "end_reason", "initiated_at", "ringing_at", "connected_at", "held_at",
        "ended_at", "ring_deadline", "provider_leg_id",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Party")
    def party(self, leg: Leg) -> str:
        return leg.party_name + (f" (via {leg.queue.name})" if leg.queue_id else "")


@admin.register(Call)
class CallAdmin(ReadOnlyScopedAdmin):
    site_path = "engagement__site"
    list_display = ["id", "caller", "queue", "owner", "mode", "state", "provider", "created_at"]
    list_filter = ["engagement__site", "engagement__queue", "mode", "provider", "engagement__state"]
    search_fields = ["engagement__visitor__name", "engagement__visitor__phone_number", "provider_call_id"]
    date_hierarchy = "created_at"
    list_select_related = ["engagement__visitor", "engagement__queue", "engagement__owner"]
    fields = [
        "engagement", "mode", "initiator", "conferences", "cold_transfers", "provider", "provider_call_id",
        "provider_ended_at", "created_at",
    ]  # fmt: skip
    readonly_fields = fields
    inlines = [LegInline]

    @admin.display(description="Caller", ordering="engagement__visitor__name")
    def caller(self, call: Call) -> str:
        return call.engagement.visitor.display_name

    @admin.display(description="Queue", ordering="engagement__queue__name")
    def queue(self, call: Call) -> str:
        return call.engagement.queue.name

    @admin.display(description="Owner")
    def owner(self, call: Call) -> str:
        return call.engagement.owner.display_name if call.engagement.owner_id else "—"

    @admin.display(description="State", ordering="engagement__state")
    def state(self, call: Call) -> str:
        return call.engagement.get_state_display()


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyScopedAdmin):
    """Webhook events as received; superusers only (they are not tied to a site until applied)."""

    list_display = ["provider", "resource_id", "sequence", "kind", "applied", "received_at"]
    list_filter = ["provider", "kind", "applied"]
    search_fields = ["resource_id"]
    fields = ["provider", "resource_id", "sequence", "kind", "applied", "payload", "received_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset if request.user.is_superuser else queryset.none()

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
