"""Every realtime frame of telephony, built from rows already read (pure: no reads, no sends).

Frame names and fields match "Phone frames" in docs/realtime.md: `call.state` carries the whole
call (mode and every leg) to the operators on it, `call.caller_state` the caller's own view. The
HTTP acts answer with the same snapshot, so a console draws a call the same way from either.
selectors.call_with_legs reads what these take; events.py publishes them.
"""

from __future__ import annotations

from helpdesk.frames import iso

from .models import Call, Leg


def leg_snapshot(leg: Leg) -> dict:
    """One leg as the console draws it; `leg.call.engagement.visitor` names a customer leg."""
    return {
        "id": leg.pk,
        "kind": leg.kind,
        "state": leg.state,
        "end_reason": leg.end_reason,
        "operator_id": leg.operator_id,
        "party_name": leg.party_name,
        "queue_name": leg.queue.name if leg.queue_id else "",
        "phone_number": leg.phone_number,
        "reason_name": leg.reason.name if leg.reason_id else "",
        "supervisor_id": leg.supervisor_id,
        "role": leg.role,
        "heard_by": sorted(Leg.HEARD_BY[leg.role]) if leg.role else [],
        "initiated_at": iso(leg.initiated_at),
        "ringing_at": iso(leg.ringing_at),
        "connected_at": iso(leg.connected_at),
        "held_at": iso(leg.held_at),
        "ended_at": iso(leg.ended_at),
        "ring_deadline": iso(leg.ring_deadline),
    }


def call_snapshot(call: Call, legs: list[Leg]) -> dict:
    """The whole call as the console draws it: legs in order, customer first.

    `call.engagement` carries its queue, visitor and owner; `legs` are the call's legs, each
    with its operator and queue (as `selectors.call_with_legs` returns them)."""
    engagement = call.engagement
    legs = sorted(legs, key=lambda leg: (leg.kind != Leg.Kind.CUSTOMER, leg.pk))
    return {
        "id": call.pk,
        "version": call.version,
        "engagement_id": engagement.pk,
        "state": engagement.state,
        "end_reason": engagement.end_reason,
        "mode": call.mode,
        "queue": {
            "id": engagement.queue_id,
            "name": engagement.queue.name,
            "cold_transfer_allowed": engagement.queue.cold_transfer_allowed,
        },
        "caller_name": engagement.visitor.display_name,
        "caller_number": engagement.visitor.phone_number,
        "owner_id": engagement.owner_id,
        "owner_name": engagement.owner.display_name if engagement.owner_id else "",
        "initiator_id": call.initiator_id,
        "legs": [leg_snapshot(leg) for leg in legs],
    }


def call_state_frame(snapshot: dict) -> dict:
    """`call.state`: to every operator who has or had a leg on the call."""
    return {"type": "call.state", "call": snapshot}


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
        # Only what the caller would hear: a supervisor who barged in, never a listener or a coach.
        "also_on_call": [
            leg["party_name"]
            for leg in snapshot["legs"]
            if leg["kind"] == "supervisor" and leg["state"] != "ended" and "customer" in leg["heard_by"]
        ],
    }


def caller_state_frame(snapshot: dict) -> dict:
    """`call.caller_state`: the caller's view, to the engagement's group."""
    return {"type": "call.caller_state", "call": caller_view(snapshot)}
