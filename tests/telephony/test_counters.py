"""Call.conferences and Call.cold_transfers: each act that succeeds counts exactly once, a refused,
repeated or racing one counts nothing, and the database refuses a negative count."""

import pytest
from django.db import IntegrityError, transaction

from helpdesk.errors import NotAllowed
from helpdesk.models import Engagement
from telephony import services
from telephony.errors import CallError
from telephony.models import Call

from .test_races import race

pytestmark = pytest.mark.django_db(transaction=True)


def counts(call) -> tuple[int, int]:
    """(conferences, cold_transfers) as stored in the database."""
    return tuple(Call.objects.filter(pk=call.pk).values_list("conferences", "cold_transfers").get())


def allow_cold_transfer(centre):
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()


def test_a_new_call_counts_nothing(centre):
    call = centre.answered_call()
    assert counts(call) == (0, 0)


def test_conference_counts_once_and_repeating_it_counts_nothing(centre):
    call = centre.consulting()
    services.conference(call_id=call.pk, operator=centre.a)
    assert counts(call) == (1, 0)
    with pytest.raises(CallError) as error:  # already in the conference: refused, not counted again
        services.conference(call_id=call.pk, operator=centre.a)
    assert error.value.code == "no_consult"
    assert counts(call) == (1, 0)
    # The release is a transfer out of the conference, not another conference nor a cold transfer.
    services.release_call(call_id=call.pk, operator=centre.a)
    assert counts(call) == (1, 0)
    # The new owner can conference again (another consult): that is a second conference.
    leg = services.start_consult(call_id=call.pk, operator=centre.b, operator_id=centre.c.pk)
    services.answer_leg(leg_id=leg.pk, operator=centre.c)
    services.conference(call_id=call.pk, operator=centre.b)
    assert counts(call) == (2, 0)
    services.end_conference(call_id=call.pk, operator=centre.b)
    assert counts(call) == (2, 0)


def test_conference_refused_before_the_target_answers_counts_nothing(centre):
    call = centre.answered_call()
    services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    with pytest.raises(CallError):
        services.conference(call_id=call.pk, operator=centre.a)
    assert counts(call) == (0, 0)


def test_target_cannot_conference_for_the_initiator_and_counts_nothing(centre):
    call = centre.consulting()
    with pytest.raises(CallError) as error:
        services.conference(call_id=call.pk, operator=centre.b)
    assert error.value.code == "initiator_in_conference"
    assert counts(call) == (0, 0)


def test_cold_transfer_counts_once_and_repeating_it_counts_nothing(centre):
    allow_cold_transfer(centre)
    call = centre.consulting()
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert counts(call) == (0, 1)
    with pytest.raises(NotAllowed) as error:  # A left the call: a repeat is refused
        services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_owner"
    with pytest.raises(CallError) as error:  # B owns it now but has no consult to transfer to
        services.cold_transfer(call_id=call.pk, operator=centre.b)
    assert error.value.code == "no_consult"
    assert counts(call) == (0, 1)


def test_cold_transfer_refused_by_the_queue_counts_nothing(centre):
    call = centre.consulting()
    with pytest.raises(CallError) as error:
        services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert error.value.code == "cold_transfer_disabled"
    assert counts(call) == (0, 0)


def test_cold_transfer_to_a_ringing_target_counts_when_made_not_when_answered(centre):
    allow_cold_transfer(centre)
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert counts(call) == (0, 1)
    services.answer_leg(leg_id=leg.pk, operator=centre.b)
    assert counts(call) == (0, 1)


def test_cold_transfer_to_an_outside_number_counts_and_the_call_leaves(centre):
    allow_cold_transfer(centre)
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    services.answer_leg(leg_id=leg.pk)
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert counts(call) == (0, 1)
    assert centre.call(call.pk).engagement.state == Engagement.State.ENDED


def test_hang_up_during_a_consult_passes_the_call_but_is_not_a_cold_transfer(centre):
    allow_cold_transfer(centre)
    call = centre.consulting()
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    assert centre.call(call.pk).engagement.owner == centre.b
    assert counts(call) == (0, 0)


def test_two_conference_clicks_at_once_count_one(centre):
    call = centre.consulting()
    outcomes = race(
        lambda: services.conference(call_id=call.pk, operator=centre.a),
        lambda: services.conference(call_id=call.pk, operator=centre.a),
    )
    assert sorted(o if isinstance(o, str) else "ok" for o in outcomes) == ["no_consult", "ok"]
    assert counts(call) == (1, 0)


def test_two_cold_transfer_clicks_at_once_count_one(centre):
    allow_cold_transfer(centre)
    call = centre.consulting()
    outcomes = race(
        lambda: services.cold_transfer(call_id=call.pk, operator=centre.a),
        lambda: services.cold_transfer(call_id=call.pk, operator=centre.a),
    )
    assert sorted(o if isinstance(o, str) else "ok" for o in outcomes) == ["not_owner", "ok"]
    assert counts(call) == (0, 1)


def test_the_database_refuses_a_negative_count(centre):
    call = centre.answered_call()
    for field in ("conferences", "cold_transfers"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Call.objects.filter(pk=call.pk).update(**{field: -1})
