"""The managers' admin: each module registers its models; scoping.py keeps managers to their sites."""

from django.contrib import admin

from . import canned, engagements, organisation, queues, wrapup  # noqa: F401 (registers the admins)

admin.site.site_header = "Helpdesk administration"
admin.site.site_title = "Helpdesk admin"
admin.site.index_title = "Sites, teams, operators and queues"
