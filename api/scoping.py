"""Who may read what through the API.

The API's audience:

- **Managers** read everything of the sites they manage (a superuser: every site).
- **Operators** (not managing their site) read the directory of their own site (sites, teams,
  operators, queues) but, of the conversations, only those they took part in: engagements they
  held (an `Ownership` stretch), were offered (a chat transfer offer or a transfer aimed at them)
  or were on as a call leg, with those engagements' messages, notes, transfers, calls and legs.
  That is what the operator socket shows them; another operator's chat is "not found".
  Site-wide figures (`/api/metrics/`) are for managers only, like the reports page.

Writes (add a note, start a chat transfer) first look the engagement up among those the caller
may read, then the service allows only its current owner, as the socket does.
"""

from __future__ import annotations

from django.db.models import Q

from helpdesk.models import Ownership
from reporting.scope import sites_visible_to


def caller_site_ids(request) -> list[int]:
    """Sites whose directory the caller may read (managed ones, plus an operator's own). Cached on the request."""
    if not hasattr(request, "_api_site_ids"):
        request._api_site_ids = list(sites_visible_to(request.user, include_own_site=True).values_list("pk", flat=True))
    return request._api_site_ids


def managed_site_ids(request) -> list[int]:
    """Sites the caller manages (every site for a superuser): their conversations and figures in full."""
    if not hasattr(request, "_api_managed_site_ids"):
        request._api_managed_site_ids = list(sites_visible_to(request.user).values_list("pk", flat=True))
    return request._api_managed_site_ids


def involved_engagement_q(operator, path: str = "") -> Q:
    """Engagements `operator` took part in: held, offered by a transfer, or on a call leg.

    `path` leads from the queried model to the engagement ("" for Engagement itself,
    "engagement__" for messages, notes, transfers and calls, "call__engagement__" for legs).
    Subqueries, not joins, so no row comes back twice.
    """
    from telephony.models import Leg
    from transfers.models import Transfer, TransferOffer

    key = f"{path}in" if path else "pk__in"
    offered = Transfer.objects.filter(
        Q(target_operator=operator) | Q(offered_to=operator) | Q(accepted_by=operator) | Q(initiator=operator)
    )
    return (
        Q(**{key: Ownership.objects.filter(operator=operator).values("engagement_id")})
        | Q(**{key: TransferOffer.objects.filter(operator=operator).values("transfer__engagement_id")})
        | Q(**{key: offered.values("engagement_id")})
        | Q(**{key: Leg.objects.filter(operator=operator).values("call__engagement_id")})
    )


def conversation_q(request, path: str = "") -> Q:
    """The engagements (reached through `path`) whose conversation the caller may read."""
    managed = managed_site_ids(request)
    visible = Q(**{f"{path}site_id__in": managed})
    operator = getattr(request.user, "operator", None) if request.user.is_authenticated else None
    if operator is not None and operator.site_id not in managed:
        visible |= Q(**{f"{path}site_id": operator.site_id}) & involved_engagement_q(operator, path)
    return visible
