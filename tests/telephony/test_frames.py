"""Phone frames: built in telephony/frames.py from rows the selectors read, published by events.py
(docs/realtime.md, "Phone frames")."""

import pytest

from telephony import events, frames, selectors, services

pytestmark = pytest.mark.django_db(transaction=True)

LEG_FIELDS = {
    "id",
    "kind",
    "state",
    "end_reason",
    "operator_id",
    "party_name",
    "queue_name",
    "phone_number",
    "reason_name",
    "supervisor_id",
    "role",
    "heard_by",
    "initiated_at",
    "ringing_at",
    "connected_at",
    "held_at",
    "ended_at",
    "ring_deadline",
}


def test_call_snapshot_puts_the_customer_leg_first_with_every_documented_field(centre):
    call = centre.consulting()
    call, legs = selectors.call_with_legs(call_id=call.pk)
    snapshot = frames.call_snapshot(call, list(reversed(legs)))
    assert [leg["kind"] for leg in snapshot["legs"]] == ["customer", "operator", "consult"]
    assert all(set(leg) == LEG_FIELDS for leg in snapshot["legs"])
    assert [leg["party_name"] for leg in snapshot["legs"]] == ["Pat Caller", "Alice Archer", "Bob Baker"]
    assert snapshot["mode"] == "consult" and snapshot["owner_name"] == "Alice Archer"
    assert snapshot["queue"] == {"id": centre.sales.pk, "name": "Sales line", "cold_transfer_allowed": False}
    assert frames.call_state_frame(snapshot) == {"type": "call.state", "call": snapshot}


def test_caller_view_shows_their_own_leg_and_who_talks_to_them_never_the_other_legs(centre):
    call, legs = selectors.call_with_legs(call_id=centre.answered_call().pk)
    frame = frames.caller_state_frame(frames.call_snapshot(call, legs))
    assert frame == {
        "type": "call.caller_state",
        "call": {
            "id": call.pk,
            "state": "active",
            "queue": "Sales line",
            "operator_name": "Alice Archer",
            "leg": {"state": "connected", "end_reason": ""},
            "end_reason": "",
            "also_on_call": [],
        },
    }


def test_a_change_sends_call_state_to_everyone_on_the_call_and_the_caller_view_to_its_engagement(centre, monkeypatch):
    call = centre.consulting()
    to_operators, to_engagements = [], []
    monkeypatch.setattr(
        events, "publish_to_operator", lambda operator_id, frame: to_operators.append((operator_id, frame))
    )
    monkeypatch.setattr(
        events, "publish_to_engagement", lambda engagement_id, frame: to_engagements.append((engagement_id, frame))
    )
    services.conference(call_id=call.pk, operator=centre.a)
    assert sorted(operator_id for operator_id, _ in to_operators) == [centre.a.pk, centre.b.pk]
    assert {frame["type"] for _, frame in to_operators} == {"call.state"}
    assert all(frame["call"]["mode"] == "conference" for _, frame in to_operators)
    assert to_operators[0][1]["call"]["version"] == call.version + 1
    assert [(engagement_id, frame["type"]) for engagement_id, frame in to_engagements] == [
        (call.engagement_id, "call.caller_state")
    ]
