"""Publishing the frames of telephony (built in frames.py): who gets which, sent on commit.
Documented in docs/realtime.md ("Phone frames").

One frame type, `call.state`, carries the whole call (mode and every leg) to every operator who
has or had a leg on it, so a console re-renders from the frame alone and a missed frame is
repaired by the next one (or by reloading /phone/api/current/). The same frame goes to the
call's own group (`call_group`), which a supervisor's socket joins while they are on the call.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from helpdesk.realtime import publish, publish_to_engagement, publish_to_operator

from . import frames, selectors
from .models import Call


def call_group(call_id: int) -> str:
    """Sockets following one call whatever their user's legs: a supervisor's, while on the call."""
    return f"telephony.call.{call_id}"


def call_changed(call_id: int) -> None:
    """Bump the call's version now; after commit send its fresh snapshot to each operator on it
    and to the caller's group. Call inside the transaction of the change."""
    Call.objects.filter(pk=call_id).update(version=F("version") + 1)
    transaction.on_commit(lambda: _publish_call_state(call_id), robust=True)


def _publish_call_state(call_id: int) -> None:
    found = selectors.call_with_legs(call_id=call_id)
    if found is None:
        return
    call, legs = found
    snapshot = frames.call_snapshot(call, legs)
    frame = frames.call_state_frame(snapshot)
    for operator_id in selectors.operators_on_call(call):
        publish_to_operator(operator_id, frame)
    publish(call_group(call_id), frame)
    publish_to_engagement(call.engagement_id, frames.caller_state_frame(snapshot))
