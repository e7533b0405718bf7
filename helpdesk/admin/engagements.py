"""Engagements, read-only: the transcript, notes and owner history as the product wrote them."""

from __future__ import annotations

from django.contrib import admin

from helpdesk.models import AvailabilityLog, Engagement, Message, Note, Ownership, TranscriptEmail

from .scoping import ReadOnlyScopedAdmin, ReadOnlyScopedInline


class OwnershipInline(ReadOnlyScopedInline):
    model = Ownership
    site_path = "engagement__site"
    fields = ["operator", "started_at", "started_because", "ended_at", "ended_because"]
    readonly_fields = fields
    verbose_name = "owner"
    verbose_name_plural = "owner history"


class MessageInline(ReadOnlyScopedInline):
    model = Message
    site_path = "engagement__site"
    fields = ["seq", "created_at", "sender", "operator", "body"]
    readonly_fields = fields
    ordering = ["seq"]


class NoteInline(ReadOnlyScopedInline):
    model = Note
    site_path = "engagement__site"
    fields = ["created_at", "source", "author", "body"]
    readonly_fields = fields
    ordering = ["created_at"]


class TranscriptEmailInline(ReadOnlyScopedInline):
    model = TranscriptEmail
    site_path = "engagement__site"
    fields = ["address", "requested_at", "sent_at"]
    readonly_fields = fields
    verbose_name_plural = "transcripts e-mailed to the visitor"


@admin.register(Engagement)
class EngagementAdmin(ReadOnlyScopedAdmin):
    list_display = ["__str__", "site", "queue", "media", "state", "owner", "created_at", "answered_at", "ended_at"]
    list_filter = ["state", "media", "site", "queue", "end_reason"]
    search_fields = ["=id", "visitor__name", "owner__display_name", "queue__name"]
    list_select_related = ["site", "queue", "visitor", "owner"]
    date_hierarchy = "created_at"
    inlines = [OwnershipInline, NoteInline, MessageInline, TranscriptEmailInline]
    readonly_fields = [
        "site", "queue", "visitor", "media", "state", "owner",
        "created_at", "queued_at", "answered_at", "ended_at", "end_reason", "last_seq",
    ]  # fmt: skip
    fields = readonly_fields


@admin.register(AvailabilityLog)
class AvailabilityLogAdmin(ReadOnlyScopedAdmin):
    site_path = "operator__site"
    list_display = ["operator", "media", "status", "started_at", "ended_at"]
    list_filter = ["media", "status", "operator__site"]
    search_fields = ["operator__display_name"]
    list_select_related = ["operator"]
    date_hierarchy = "started_at"
