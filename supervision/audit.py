"""Reads of the audit trail: supervisor acts and the admin's change history, scoped to sites.

One place decides which admin changes (django.contrib.admin's `LogEntry`) a site's managers may
read, for the admin page, the export and the API alike. A `LogEntry` names its object only by
content type and id, so an entry belongs to a site when its object does: the object's model is
one a site-scoped admin lists (its `site_path`, as declared on the admin) and the object is on
that site now. Whoever made the change (another manager, a superuser) does not matter. Entries
about objects that have no site (users, groups) or that no longer exist (a deletion) cannot be
placed and are for superusers only.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Case, CharField, Model, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from helpdesk.admin.scoping import SITE_PATHS, SiteScopedMixin
from helpdesk.models import Site
from reporting.scope import sites_visible_to

from .models import SupervisorAct

# The admin's action flags by the words the export, the API and the filters use.
ACTIONS = {"added": ADDITION, "changed": CHANGE, "deleted": DELETION}


def site_paths(site: admin.AdminSite = admin.site) -> dict[type[Model], str]:
    """How each site-scoped model reaches its site: the paths the domain admins declare."""
    paths = dict(SITE_PATHS)
    for model, model_admin in site._registry.items():
        if isinstance(model_admin, SiteScopedMixin) and _reaches_a_site(model, model_admin.site_path):
            paths[model] = model_admin.site_path
    return paths


def _reaches_a_site(model: type[Model], site_path: str) -> bool:
    """False for admins that scope some other way (the provider events, this history itself)."""
    if site_path == "pk":
        return model is Site
    try:
        return get_fields_from_path(model, site_path)[-1].related_model is Site
    except (FieldDoesNotExist, NotRelationField):
        return False


def _site_filter(site_path: str, site_ids: list[int]) -> Q:
    return Q(pk__in=site_ids) if site_path == "pk" else Q(**{f"{site_path}__in": site_ids})


def admin_changes_on_sites(site_ids: list[int]) -> QuerySet[LogEntry]:
    """Admin changes of objects that are on these sites now, whoever made them."""
    if not site_ids:
        return LogEntry.objects.none()
    paths = site_paths()
    # The admin logs a proxy model's objects under the proxy's own content type.
    types = ContentType.objects.get_for_models(*paths, for_concrete_models=False)
    about_sites = Q(pk__in=[])
    for model, site_path in paths.items():
        object_ids = model._default_manager.filter(_site_filter(site_path, site_ids)).values_list(
            Cast("pk", CharField()), flat=True
        )
        about_sites |= Q(content_type=types[model], object_id__in=object_ids)
    return LogEntry.objects.filter(about_sites)


def admin_changes_visible_to(user) -> QuerySet[LogEntry]:
    """Every entry for a superuser; a manager's sites' entries; nothing for anyone else."""
    if user.is_superuser:
        return LogEntry.objects.all()
    return admin_changes_on_sites(list(sites_visible_to(user).values_list("pk", flat=True)))


def supervisor_acts_visible_to(user) -> QuerySet[SupervisorAct]:
    """The acts on the sites `user` manages (every site for a superuser)."""
    return SupervisorAct.objects.filter(site__in=sites_visible_to(user))


def action_word():
    """The action flag as its word (added, changed, deleted), computed by the database."""
    return Case(
        *(When(action_flag=flag, then=Value(word)) for word, flag in ACTIONS.items()),
        default=Value(""),
        output_field=CharField(),
    )
