"""Canned responses: written by managers per site or per queue, offered in the console with "/"."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from helpdesk.models import CannedResponse

from .scoping import SiteScopedAdmin


class CannedResponseForm(forms.ModelForm):
    class Meta:
        model = CannedResponse
        fields = ["site", "queue", "shortcut", "title", "body", "active", "order"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5})}


@admin.register(CannedResponse)
class CannedResponseAdmin(SiteScopedAdmin):
    form = CannedResponseForm
    list_display = ["__str__", "title", "site", "queue", "active", "order"]
    list_display_links = ["__str__", "title"]
    list_editable = ["active", "order"]
    list_filter = ["site", "queue", "active"]
    search_fields = ["shortcut", "title", "body"]
    list_select_related = ["site", "queue"]
