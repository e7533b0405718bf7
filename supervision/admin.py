"""The audit trail for managers: every supervisor act and the admin's own change history,
read-only, scoped to the sites they manage."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import LogEntry

from helpdesk.admin.scoping import ReadOnlyScopedAdmin, is_manager, managed_site_ids

from .audit import admin_changes_on_sites
from .models import SupervisorAct, Watch


@admin.register(SupervisorAct)
class SupervisorActAdmin(ReadOnlyScopedAdmin):
    site_path = "site"
    list_display = ["created_at", "actor", "act", "engagement", "operator", "detail", "site"]
    list_filter = ["act", "site", "actor", "created_at"]
    search_fields = ["actor__username", "operator__display_name", "=engagement__id", "detail"]
    list_select_related = ["actor", "operator", "engagement", "site"]
    date_hierarchy = "created_at"
    fields = ["created_at", "site", "actor", "act", "engagement", "operator", "detail"]
    readonly_fields = fields


@admin.register(Watch)
class WatchAdmin(ReadOnlyScopedAdmin):
    site_path = "engagement__site"
    list_display = ["started_at", "supervisor", "mode", "engagement", "ended_at"]
    list_filter = ["mode", "started_at"]
    list_select_related = ["supervisor", "engagement"]
    fields = ["supervisor", "engagement", "mode", "started_at", "ended_at"]
    readonly_fields = fields


@admin.register(LogEntry)
class AdminChangeAdmin(ReadOnlyScopedAdmin):
    """Who changed what in this admin. A LogEntry has no site of its own: which ones a manager sees
    is decided by `supervision.audit.admin_changes_on_sites` (the object's site)."""

    list_display = ["action_time", "user", "action_flag", "content_type", "object_repr", "change_summary"]
    list_filter = ["action_flag", "content_type", "user", "action_time"]
    search_fields = ["object_repr", "change_message", "user__username", "=object_id"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "action_time"
    fields = ["action_time", "user", "action_flag", "content_type", "object_id", "object_repr", "change_summary"]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        if not is_manager(request.user):
            return queryset.none()
        return queryset & admin_changes_on_sites(managed_site_ids(request))

    @admin.display(description="change")
    def change_summary(self, entry: LogEntry) -> str:
        return entry.get_change_message()
