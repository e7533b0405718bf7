"""The audit trail for managers: every supervisor act, read-only, scoped to the sites they manage."""

from __future__ import annotations

from django.contrib import admin

from helpdesk.admin.scoping import ReadOnlyScopedAdmin

from .models import SupervisorAct, Watch


@admin.register(SupervisorAct)
class SupervisorActAdmin(ReadOnlyScopedAdmin):
    site_path = "site"
    list_display = ["created_at", "actor", "act", "engagement", "operator", "detail", "site"]
    list_filter = ["act", "site", "created_at"]
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
