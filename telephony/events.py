"""Every realtime frame of telephony: built here, sent on commit. Documented in docs/realtime.md
("Phone frames").

One frame type, `call.state`, carries the whole call (mode and every leg) to every operator who
has or had a leg on it, so a console re-renders from the frame alone and a missed frame is
repaired by the next one (or by reloading /phone/api/current/).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from helpdesk.realtime import publish_to_engagement, publish_to_operator

from .models import Call


def call_changed(call_id: int) -> None:
    """Bump the call's version now; after commit send its fresh snapshot to each operator on it
    and to the caller's group. Call inside the transaction of the change."""
    Call.objects.filter(pk=call_id).update(version=F("version") + 1)
    transaction.on_commit(lambda: _publish_call_state(call_id), robust=True)


def _publish_call_state(call_id: int) -> None:
    from .selectors import call_snapshot, operators_on_call

    call = Call.objects.filter(pk=call_id).select_related("engagement").first()
    if call is None:
        return
    snapshot = call_snapshot(call)
    frame = {"type": "call.state", "call": snapshot}
    for operator_id in operators_on_call(call):
        publish_to_operator(operator_id, frame)
    publish_to_engagement(call.engagement_id, {"type": "call.caller_state", "call": caller_view(snapshot)})


def caller_view(snapshot: dict) -> dict:
    """What the caller may see: their own leg and the call's state, never operators' details."""
    customer = next((leg for leg in snapshot["legs"] if leg["kind"] == "customer"), None)
    # Handed to an outside number: the helpdesk's engagement ended, but the caller still talks
    # (with someone who is not one of our operators) until they or the number hang up.
    outside = snapshot["mode"] == "outside" and customer is not None and customer["state"] != "ended"
    return {
        "id": snapshot["id"],
        "state": "active" if outside else snapshot["state"],
        "queue": snapshot["queue"]["name"],
        "operator_name": snapshot["owner_name"]
        if customer and customer["state"] == "connected" and not outside
        else "",
        "leg": {
            "state": customer["state"] if customer else "ended",
            "end_reason": customer["end_reason"] if customer else "",
        },
        "end_reason": "" if outside else snapshot["end_reason"],
    }
