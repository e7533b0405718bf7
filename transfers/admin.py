"""Transfer history for managers: read-only, scoped to the sites they manage."""

from __future__ import annotations

from django.contrib import admin

from helpdesk.admin.scoping import ReadOnlyScopedAdmin, ReadOnlyScopedInline
from helpdesk.models import Engagement

from .models import Transfer, TransferOffer


class TransferOfferInline(ReadOnlyScopedInline):
    model = TransferOffer
    site_path = "transfer__engagement__site"
    fields = ["operator", "offered_at", "expires_at", "outcome", "reason", "reason_text", "answered_at"]
    readonly_fields = fields
    verbose_name = "offer"
    verbose_name_plural = "offers (each operator asked)"


class EngagementTransferInline(ReadOnlyScopedInline):
    """The transfer history on the engagement's admin page."""

    model = Transfer
    fk_name = "engagement"
    site_path = "engagement__site"
    fields = [
        "requested_at", "initiator", "target_operator", "target_queue", "accepted_by", "state",
        "end_reason", "reason_text", "answered_at", "completed_at",
    ]  # fmt: skip
    readonly_fields = fields
    ordering = ["requested_at"]
    show_change_link = True
    verbose_name_plural = "transfer history"


@admin.register(Transfer)
class TransferAdmin(ReadOnlyScopedAdmin):
    site_path = "engagement__site"
    list_display = [
        "pk", "engagement", "initiator", "target", "state", "end_reason", "reason_text",
        "requested_at", "answered_at", "completed_at",
    ]  # fmt: skip
    list_filter = ["state", "end_reason", "engagement__site", "target_queue", "requested_at"]
    search_fields = ["=engagement__id", "initiator__display_name", "target_operator__display_name", "reason_text"]
    list_select_related = ["engagement__visitor", "initiator", "target_operator", "target_queue"]
    date_hierarchy = "requested_at"
    inlines = [TransferOfferInline]
    fields = [
        "engagement", "initiator", "target_operator", "target_queue", "offered_to", "accepted_by", "note",
        "state", "end_reason", "reason_text", "accept_timeout_seconds",
        "requested_at", "expires_at", "answered_at", "hand_over_by", "completed_at", "ended_at", "expired_by",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="target", ordering="target_operator__display_name")
    def target(self, transfer: Transfer) -> str:
        return transfer.target_name


def _show_history_on_engagements() -> None:
    """Add the transfer history to the core's engagement admin without the core importing transfers."""
    engagement_admin = admin.site._registry.get(Engagement)
    if engagement_admin is not None and EngagementTransferInline not in engagement_admin.inlines:
        engagement_admin.inlines = [*engagement_admin.inlines, EngagementTransferInline]


_show_history_on_engagements()
