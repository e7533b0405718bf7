"""Queues (skills): who serves them, their timeouts, and how many wait now."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q

from helpdesk.models import Engagement, Queue
from helpdesk.services.offline import reschedule_offline_messages

from .hours import HOURS_INLINES
from .organisation import teams_of_site_only
from .scoping import SiteScopedAdmin
from .wrapup import WRAP_UP_FIELDS, DispositionCodeInline, clean_wrap_up, limit_default_disposition


class QueueForm(forms.ModelForm):
    class Meta:
        model = Queue
        fields = [
            "site", "name", "media", "teams", "is_default", "accept_timeout_seconds", "cold_transfer_allowed",
            "service_level_seconds", "service_level_target_percent", *WRAP_UP_FIELDS,
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_default_disposition(self)

    def clean(self):
        cleaned = super().clean()
        teams_of_site_only(self)
        clean_wrap_up(self)
        return cleaned


@admin.register(Queue)
class QueueAdmin(SiteScopedAdmin):
    form = QueueForm
    list_display = [
        "name", "site", "media", "is_default", "waiting_now", "accept_timeout_seconds", "cold_transfer_allowed",
    ]  # fmt: skip
    list_filter = ["site", "media", "cold_transfer_allowed"]
    search_fields = ["name", "site__name", "teams__name"]
    filter_horizontal = ["teams"]
    fieldsets = [
        (None, {"fields": ["site", "name", "media", "teams", "is_default"]}),
        ("Transfers", {"fields": ["accept_timeout_seconds", "cold_transfer_allowed"]}),
        ("Service level", {"fields": ["service_level_seconds", "service_level_target_percent"]}),
        ("After-contact work", {"fields": WRAP_UP_FIELDS}),
    ]
    inlines = [*HOURS_INLINES, DispositionCodeInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("site")
            .annotate(waiting=Count("engagements", filter=Q(engagements__state=Engagement.State.QUEUED)))
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The hours are inlines: only now are they saved, and waiting offline messages follow them.
        moved = reschedule_offline_messages(queue=form.instance)
        if moved:
            self.message_user(request, f"{moved} waiting offline message(s) now go to an operator at the new opening.")

    @admin.display(description="waiting now", ordering="waiting")
    def waiting_now(self, queue):
        return queue.waiting
