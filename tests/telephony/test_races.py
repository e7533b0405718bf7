"""Acts racing each other from separate database connections: exactly one wins, state stays whole."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from helpdesk.errors import DomainError
from helpdesk.models import Media
from telephony import services
from telephony.models import Call, Leg
from tests.factories import OperatorFactory

from .conftest import voice

pytestmark = pytest.mark.django_db(transaction=True)


def race(*acts):
    """Run the acts at the same moment, each in its own thread and connection; return outcomes."""
    barrier = threading.Barrier(len(acts))
    outcomes = [None] * len(acts)

    def run(index, act):
        barrier.wait()
        try:
            outcomes[index] = act()
        except DomainError as error:  # the loser is told why (CallError or NotAllowed)
            outcomes[index] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, act)) for i, act in enumerate(acts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_consults_on_one_call_at_once_open_only_one(centre):
    call = centre.answered_call()
    outcomes = race(
        lambda: services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk),
        lambda: services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.c.pk),
    )
    assert sorted(o if isinstance(o, str) else "ok" for o in outcomes) == ["consult_open", "ok"]
    assert Leg.objects.filter(call=call, kind=Leg.Kind.CONSULT, state=Leg.State.RINGING).count() == 1
    assert voice(centre.b).load + voice(centre.c).load == 1


def test_two_calls_consulting_the_same_operator_at_once_get_them_once(centre):
    d = OperatorFactory(site=centre.a.site, display_name="Dan Dale", available=[Media.VOICE])
    d.teams.set(centre.a.teams.all())
    first = centre.answered_call("First")
    second = services.place_call(queue=centre.sales, caller_name="Second")
    services.answer_leg(leg_id=Leg.objects.get(call=second, kind=Leg.Kind.OPERATOR).pk, operator=d)
    outcomes = race(
        lambda: services.start_consult(call_id=first.pk, operator=centre.a, operator_id=centre.b.pk),
        lambda: services.start_consult(call_id=second.pk, operator=d, operator_id=centre.b.pk),
    )
    assert sorted(o if isinstance(o, str) else "ok" for o in outcomes) == ["ok", "target_unavailable"]
    assert voice(centre.b).load == 1


def test_release_racing_end_conference_leaves_one_consistent_outcome(centre):
    call = centre.conferencing()
    outcomes = race(
        lambda: services.release_call(call_id=call.pk, operator=centre.a),
        lambda: services.end_conference(call_id=call.pk, operator=centre.a),
    )
    call = Call.objects.select_related("engagement").get(pk=call.pk)
    assert sum(1 for o in outcomes if isinstance(o, Call)) >= 1
    assert all(isinstance(o, Call) or o in ("not_owner", "not_in_conference", "ended") for o in outcomes)
    if call.engagement.state == "ended":
        assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()
    else:
        assert call.engagement.owner == centre.b
        assert Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).count() == 2
    assert voice(centre.a).load == 0


def test_answer_racing_the_ring_timeout_never_does_both(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    Leg.objects.filter(pk=leg.pk).update(ring_deadline=timezone.now() - timedelta(seconds=1))
    outcomes = race(
        lambda: services.answer_leg(leg_id=leg.pk, operator=centre.b),
        lambda: services.expire_ringing_leg(leg_id=leg.pk),
    )
    leg.refresh_from_db()
    if leg.state == Leg.State.CONNECTED:
        assert outcomes[1] is False
    else:
        assert leg.end_reason == Leg.EndReason.NO_ANSWER and outcomes[0] == "not_ringing"
        assert voice(centre.b).load == 0
