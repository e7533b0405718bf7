"""Who supervises which site.

A superuser supervises every site. A manager supervises the sites they manage (`Site.managers`).
Anyone else with the `supervision.supervise` permission (the "Supervisors" group, editable in
the admin) supervises the site of their operator profile. Operators without it supervise nothing
and never see the supervision pages.
"""

from __future__ import annotations

from helpdesk.models import Site

from .errors import NotSupervisor

SUPERVISORS_GROUP = "Supervisors"
PERMISSION = "supervision.supervise"


def supervised_site_ids(user) -> list[int]:
    if not user or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return list(Site.objects.order_by("pk").values_list("pk", flat=True))
    site_ids = set(Site.objects.filter(managers=user).values_list("pk", flat=True))
    operator = getattr(user, "operator", None)
    if operator is not None and user.has_perm(PERMISSION):
        site_ids.add(operator.site_id)
    return sorted(site_ids)


def is_supervisor(user) -> bool:
    return bool(supervised_site_ids(user))


def require_supervisor_of(user, site_id: int) -> None:
    """Raise NotSupervisor unless `user` supervises `site_id` (checked on the server for every act)."""
    if site_id not in supervised_site_ids(user):
        raise NotSupervisor()
