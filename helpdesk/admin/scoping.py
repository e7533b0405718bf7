"""Manager scoping for every admin page: a manager sees and edits only their own sites' data.

A manager is an active staff user in the "Managers" group; the sites they manage are
`Site.managers`. Scoping covers the four ways data leaks out of an admin: the change list
(querysets), the object pages (Django looks objects up through `get_queryset`, so another
site's object is "not found"), the choices of foreign-key and many-to-many fields, and the
filter sidebar (a related-object filter lists every row of the related table unless scoped:
every `list_filter` entry that names a relation gets `ScopedRelatedFilter`).

Other apps' admins use the same mixins and say how their model reaches a site with
`site_path` (for example ``"engagement__site"``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet

from helpdesk.models import Engagement, Operator, Queue, Site, Team

MANAGERS_GROUP = "Managers"

# How a model the admin offers as a choice reaches its site; anything else is not scoped.
SITE_PATHS: dict[type[Model], str] = {Site: "pk", Team: "site", Operator: "site", Queue: "site", Engagement: "site"}


def is_manager(user) -> bool:
    return bool(user.is_active and user.is_staff and user.groups.filter(name=MANAGERS_GROUP).exists())


def managed_site_ids(request) -> list[int]:
    """Cached on the request: every admin call of a page asks for it."""
    if not hasattr(request, "_managed_site_ids"):
        request._managed_site_ids = list(Site.objects.filter(managers=request.user).values_list("pk", flat=True))
    return request._managed_site_ids


def scope(queryset: QuerySet, request, site_path: str) -> QuerySet:
    """The part of `queryset` the request's user may see: all for a superuser."""
    if request.user.is_superuser:
        return queryset
    if not is_manager(request.user):
        return queryset.none()
    if site_path == "pk":
        return queryset.filter(pk__in=managed_site_ids(request))
    return queryset.filter(**{f"{site_path}__in": managed_site_ids(request)})


class SiteScopedMixin:
    """For ModelAdmin and inline classes. Set `site_path`; set the `manager_can_*` flags."""

    site_path: str = "site"
    manager_can_add = True
    manager_can_change = True
    manager_can_delete = True

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request, self.site_path)

    def get_list_filter(self, request):
        return [_scoped_filter(self.model, entry) for entry in super().get_list_filter(request)]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _scoped_choices(field, db_field, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        return _scoped_choices(field, db_field, request)

    # Permissions: a manager may use these pages without Django model permissions; others
    # (plain staff) keep Django's rules, and operators are not staff at all.
    def has_module_permission(self, request):
        return is_manager(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_manager(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        if is_manager(request.user) and not request.user.is_superuser:
            return self.manager_can_add
        return super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        if is_manager(request.user) and not request.user.is_superuser:
            return self.manager_can_change
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if is_manager(request.user) and not request.user.is_superuser:
            return self.manager_can_delete
        return super().has_delete_permission(request, obj)


def _scoped_choices(field, db_field, request):
    site_path = SITE_PATHS.get(db_field.related_model)
    if field is not None and site_path is not None and hasattr(field, "queryset"):
        field.queryset = scope(field.queryset, request, site_path)
    return field


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A related-object filter that lists only what the user may see.

    Objects with a site (sites, teams, operators, queues, engagements) are listed when they
    belong to the manager's sites, whether or not a row on the page points at them yet; any
    other related model lists only the objects the page's own (scoped) rows point at, as
    `RelatedOnlyFieldListFilter` does. A superuser sees everything.
    """

    def field_choices(self, field, request, model_admin):
        related_model = field.related_model
        site_path = SITE_PATHS.get(related_model)
        if site_path is None:
            shown = model_admin.get_queryset(request).distinct().values_list(f"{self.field_path}__pk", flat=True)
            return field.get_choices(
                include_blank=False,
                ordering=self.field_admin_ordering(field, request, model_admin),
                limit_choices_to={"pk__in": shown},
            )
        related = scope(related_model._default_manager.all(), request, site_path)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            related = related.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in related]


def _scoped_filter(model: type[Model], entry):
    """A `list_filter` entry naming a relation ("site", "engagement__queue") becomes scoped."""
    if not isinstance(entry, str):
        return entry
    try:
        fields = get_fields_from_path(model, entry)
    except (FieldDoesNotExist, NotRelationField):
        return entry
    return (entry, ScopedRelatedFilter) if fields[-1].is_relation else entry


class SiteScopedAdmin(SiteScopedMixin, admin.ModelAdmin):
    pass


class ReadOnlyScopedAdmin(SiteScopedAdmin):
    """History is written by the product, never by hand: managers and superusers only read it."""

    manager_can_add = manager_can_change = manager_can_delete = False

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyScopedInline(SiteScopedMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
