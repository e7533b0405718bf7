"""CSRF-less form posts are refused on every URL of the product, and change nothing.

The URL list is walked from the resolver, so views added later are covered too. Only
provider webhooks may be CSRF-exempt (they check the provider's signature instead; see
test_bad_input.py).
"""

import re
import uuid

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import ManagerFactory, OperatorFactory, SiteFactory

SAMPLE_ARGUMENTS = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.UUID(int=1)), "path": "x"}


def product_urls(patterns=None, prefix: str = "") -> list[tuple[str, object]]:
    """(path, view) for every URL pattern outside the admin, with sample values for converters."""
    found = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(pattern, URLResolver):
            found += product_urls(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            if "(" in route or "^" in route:  # a regex route: no generic sample
                continue
            if "drf_format_suffix" in route:  # the API's ".json" twins of the routes already listed
                continue
            route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_ARGUMENTS.get(m.group(1) or "str", "1"), route)
            found.append(("/" + route, pattern.callback))
    return found


def is_webhook(path: str, view) -> bool:
    return "webhook" in path or "webhook" in getattr(view, "__name__", "").lower()


def is_rest_framework_view(view) -> bool:
    """DRF marks its views exempt from Django's check and enforces CSRF for session users itself."""
    return hasattr(view, "cls")


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_only_provider_webhooks_skip_csrf_protection():
    exempt = [
        path
        for path, view in product_urls()
        if getattr(view, "csrf_exempt", False) and not is_rest_framework_view(view) and not is_webhook(path, view)
    ]
    assert exempt == [], f"CSRF-exempt views that are not signed webhooks: {exempt}"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "operator", "manager"])
def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(who):
    site = SiteFactory()
    client = Client(enforce_csrf_checks=True)
    if who == "operator":
        client.force_login(OperatorFactory(site=site).user)
    elif who == "manager":
        client.force_login(ManagerFactory(sites=[site], is_superuser=True))
    before = row_counts()
    accepted = []
    for path, view in product_urls() + [("/admin/login/", None), ("/admin/helpdesk/site/add/", None)]:
        if view is not None and is_webhook(path, view):
            continue
        response = client.post(path, {"name": "csrf", "body": "csrf"})
        # 403: refused for the missing token; 401: an API view that wants a token first;
        # 405: the URL takes no POST at all (read-only API views, open to anonymous readers).
        if response.status_code not in (401, 403, 405):
            accepted.append(f"{path} -> {response.status_code}")
    assert accepted == [], f"POSTs without a CSRF token that were not refused: {accepted}"
    assert row_counts() == before
