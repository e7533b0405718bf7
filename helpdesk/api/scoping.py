"""Which sites an API caller may read: the sites they manage (all for a superuser), or an operator's own."""

from __future__ import annotations

from ..reporting.scope import sites_visible_to


def caller_site_ids(request) -> list[int]:
    """Cached on the request: every list and lookup of the call asks for it."""
    if not hasattr(request, "_api_site_ids"):
        request._api_site_ids = list(sites_visible_to(request.user, include_own_site=True).values_list("pk", flat=True))
    return request._api_site_ids
