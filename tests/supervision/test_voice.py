"""A supervisor's acts on a call (issue 13.4): listen, coach, barge, leave, take over.

Each is audited and leaves a watch; each is refused, changing nothing, to an operator and to another
site's manager; two supervisors taking over one call at once (real concurrent transactions on
PostgreSQL) leave exactly one winner; and the acts work over the supervisor socket.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from helpdesk.models import Engagement, Media
from supervision import voice
from supervision.errors import NotSupervisor, SupervisionError
from supervision.models import SupervisorAct, Watch
from telephony.errors import CallError
from telephony.models import Leg
from tests.factories import ManagerFactory, OperatorFactory, SiteFactory, UserFactory
from tests.helpdesk.chat_helpers import connect, operator_socket, receive_until, send
from tests.helpdesk.test_routing_concurrency import run_in_threads
from tests.supervision.conftest import make_supervisor
from tests.supervision.test_socket import open_board
from tests.telephony.conftest import centre  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def floor(centre):  # noqa: F811
    """The call centre's site with two team leads (voice profiles, no skills), and another site's manager."""
    site = centre.a.site
    lead = make_supervisor(
        OperatorFactory(
            site=site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[], available=[Media.VOICE]
        )
    )
    lead2 = make_supervisor(
        OperatorFactory(
            site=site, display_name="Tess Lead", user=UserFactory(username="tess"), teams=[], available=[Media.VOICE]
        )
    )
    stranger = ManagerFactory(sites=[SiteFactory(name="Oslo")])
    return SimpleNamespace(centre=centre, lead=lead, lead2=lead2, stranger=stranger, alice=centre.a, bob=centre.b)


@pytest.fixture
def call(floor):
    return floor.centre.answered_call("Pat Caller")


def acts() -> list[tuple[str, str, str]]:
    return list(SupervisorAct.objects.order_by("pk").values_list("actor__username", "act", "detail"))


def open_watch(user) -> Watch | None:
    return Watch.objects.filter(supervisor=user, ended_at__isnull=True).first()


def test_listen_coach_and_barge_are_audited_once_each_with_the_watch_following_the_role(floor, call):
    lead = floor.lead.user
    voice.listen(supervisor=lead, call_id=call.pk)
    voice.listen(supervisor=lead, call_id=call.pk)  # already listening: one act
    assert open_watch(lead).mode == "listen"
    voice.coach(supervisor=lead, call_id=call.pk)
    assert open_watch(lead).mode == "coach"
    voice.barge(supervisor=lead, call_id=call.pk)
    assert open_watch(lead).mode == "barge"
    voice.leave(supervisor=lead, call_id=call.pk)
    assert open_watch(lead) is None
    assert acts() == [
        ("sam", "listen", "on the call"),
        ("sam", "coach", "on the call"),
        ("sam", "barge", "on the call"),
        ("sam", "monitor_stop", "left the call"),
    ]
    assert SupervisorAct.objects.filter(operator=floor.alice, engagement=call.engagement).count() == 4
    assert Leg.objects.get(call=call, kind="supervisor").state == "ended"


def test_take_over_of_a_call_is_audited_and_the_supervisor_owns_it(floor, call):
    voice.listen(supervisor=floor.lead.user, call_id=call.pk)
    voice.take_over(supervisor=floor.lead.user, call_id=call.pk, expected_owner_id=floor.alice.pk)
    engagement = Engagement.objects.get(pk=call.engagement_id)
    assert engagement.owner == floor.lead
    assert acts()[-1] == ("sam", "take_over", "on the call")
    assert SupervisorAct.objects.get(act="take_over").operator == floor.alice  # whose call it was
    assert open_watch(floor.lead.user) is None
    assert Leg.objects.get(call=call, operator=floor.lead).kind == "operator"


def test_a_manager_without_an_operator_profile_can_listen_but_not_take_over(floor, call):
    manager = ManagerFactory(sites=[floor.alice.site])
    voice.coach(supervisor=manager, call_id=call.pk)
    with pytest.raises(SupervisionError) as refused:
        voice.take_over(supervisor=manager, call_id=call.pk)
    assert refused.value.code == "no_operator_profile"
    assert Engagement.objects.get(pk=call.engagement_id).owner == floor.alice


ACTS = {
    "listen": lambda user, call: voice.listen(supervisor=user, call_id=call.pk),
    "coach": lambda user, call: voice.coach(supervisor=user, call_id=call.pk),
    "barge": lambda user, call: voice.barge(supervisor=user, call_id=call.pk),
    "leave": lambda user, call: voice.leave(supervisor=user, call_id=call.pk),
    "take_over": lambda user, call: voice.take_over(supervisor=user, call_id=call.pk),
}


@pytest.mark.parametrize("who", ["operator", "other_site_manager"])
@pytest.mark.parametrize("act", list(ACTS))
def test_every_call_act_is_refused_to_an_operator_and_another_sites_manager_and_changes_nothing(floor, call, who, act):
    user = floor.bob.user if who == "operator" else floor.stranger
    if who == "other_site_manager":
        OperatorFactory(site=SiteFactory(name="Bergen"), user=floor.stranger, available=[Media.VOICE])
        floor.stranger.refresh_from_db()
    with pytest.raises(NotSupervisor) as refused:
        ACTS[act](user, call)
    assert (refused.value.code, refused.value.http_status) == ("not_supervisor", 403)
    engagement = Engagement.objects.get(pk=call.engagement_id)
    assert (engagement.state, engagement.owner) == ("active", floor.alice)
    assert not Leg.objects.filter(call=call, kind="supervisor").exists()
    assert list(Leg.objects.filter(call=call).values_list("kind", "state").order_by("pk")) == [
        ("customer", "connected"),
        ("operator", "connected"),
    ]
    assert not SupervisorAct.objects.exists() and not Watch.objects.exists()


def test_the_chat_barge_and_take_over_refuse_a_call_which_has_its_own(floor, call):
    from supervision import services

    for act in (services.join_conversation, services.take_over):
        with pytest.raises(SupervisionError) as refused:
            act(supervisor=floor.lead.user, engagement_id=call.engagement_id)
        assert refused.value.code == "is_call"
    assert Engagement.objects.get(pk=call.engagement_id).owner == floor.alice
    assert not SupervisorAct.objects.exists()


def test_take_over_racing_the_operators_hang_up_leaves_one_consistent_outcome(floor, call):
    from telephony import services as telephony

    alice_leg = Leg.objects.get(call=call, operator=floor.alice)
    outcomes = []

    def take():
        try:
            voice.take_over(supervisor=floor.lead.user, call_id=call.pk, expected_owner_id=floor.alice.pk)
            outcomes.append("taken")
        except (SupervisionError, CallError) as error:
            outcomes.append(error.code)

    def hang_up():
        try:
            telephony.hang_up(leg_id=alice_leg.pk, operator=floor.alice)
            outcomes.append("hung_up")
        except CallError as error:
            outcomes.append(error.code)

    assert not run_in_threads([take, hang_up])
    engagement = Engagement.objects.get(pk=call.engagement_id)
    if engagement.state == "ended":  # Alice hung up first: nothing to take over
        assert sorted(outcomes) == ["ended", "hung_up"] or sorted(outcomes) == ["hung_up", "not_active"]
        assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()
        assert not SupervisorAct.objects.exists()
    else:  # the take over won: Alice's hang-up finds her leg already ended
        assert sorted(outcomes) == ["ended", "taken"]
        assert engagement.owner == floor.lead
        assert Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).count() == 2  # customer and Sam


def test_an_unknown_call_is_not_found(floor):
    with pytest.raises(SupervisionError) as refused:
        voice.listen(supervisor=floor.lead.user, call_id=999999)
    assert (refused.value.code, refused.value.http_status) == ("not_found", 404)


def test_two_supervisors_take_over_the_same_call_at_once_one_wins(floor, call):
    results = []

    def take(lead):
        def act():
            try:
                voice.take_over(supervisor=lead.user, call_id=call.pk, expected_owner_id=floor.alice.pk)
                results.append(lead.pk)
            except (SupervisionError, CallError) as error:
                results.append(error.code)

        return act

    voice.listen(supervisor=floor.lead.user, call_id=call.pk)
    voice.barge(supervisor=floor.lead2.user, call_id=call.pk)
    errors = run_in_threads([take(floor.lead), take(floor.lead2)])
    assert not errors
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1 and [r for r in results if isinstance(r, str)] == ["already_taken"], results
    assert Engagement.objects.get(pk=call.engagement_id).owner_id == winners[0]
    assert SupervisorAct.objects.filter(act="take_over").count() == 1
    owners = Leg.objects.filter(call=call, kind="operator", state="connected")
    assert [leg.operator_id for leg in owners] == winners
    # The loser is still on the call in their role; the operator's leg ended once.
    assert Leg.objects.filter(call=call, kind="supervisor", state="connected").count() == 1
    assert Leg.objects.get(call=call, operator=floor.alice).end_reason == "taken_over"


def test_listen_coach_barge_take_over_and_leave_over_the_socket(floor, call):
    async def scenario():
        board, first = await open_board(floor.lead.user)
        row = next(r for r in first["live"] if r["id"] == call.engagement_id)
        assert row["call"] == {"id": call.pk, "mode": "normal", "supervisors": []}
        console = await operator_socket(floor.alice.user)
        await connect(console)

        await send(board, {"type": "call.listen", "call_id": call.pk, "ref": "l"})
        done = await receive_until(board, "done")
        assert (done["act"], done["role"], done["ref"]) == ("call.listen", "listen", "l")
        state = await receive_until(board, "call.state")  # the socket follows the call now
        assert [leg["role"] for leg in state["call"]["legs"] if leg["kind"] == "supervisor"] == ["listen"]
        seen = await receive_until(console, "call.state")  # the operator's phone sees the supervisor's leg
        while not any(leg["kind"] == "supervisor" for leg in seen["call"]["legs"]):
            seen = await receive_until(console, "call.state")
        board_frame = await receive_until(board, "wallboard")
        while not next(r for r in board_frame["live"] if r["id"] == call.engagement_id)["call"]["supervisors"]:
            board_frame = await receive_until(board, "wallboard")
        [on_call] = next(r for r in board_frame["live"] if r["id"] == call.engagement_id)["call"]["supervisors"]
        assert (on_call["name"], on_call["role"]) == ("Sam Lead", "listen")

        await send(board, {"type": "call.coach", "call_id": call.pk})
        assert (await receive_until(board, "done"))["role"] == "coach"
        await send(board, {"type": "call.barge", "call_id": call.pk})
        assert (await receive_until(board, "done"))["role"] == "barge"
        await send(board, {"type": "call.leave", "call_id": call.pk, "ref": "x"})
        assert (await receive_until(board, "done"))["act"] == "call.leave"

        await send(board, {"type": "call.take_over", "call_id": call.pk, "expected_owner_id": floor.alice.pk})
        assert (await receive_until(board, "done"))["act"] == "call.take_over"
        assert (await receive_until(console, "supervision.taken_over"))["by_name"] == "Sam Lead"
        await send(board, {"type": "call.listen", "call_id": "x", "ref": "bad"})
        error = await receive_until(board, "error")
        assert (error["code"], error["ref"]) == ("bad_frame", "bad")
        await board.disconnect()
        await console.disconnect()

    asyncio.run(scenario())
    assert [a for _, a, _ in acts()] == ["listen", "coach", "barge", "monitor_stop", "take_over"]
    assert Engagement.objects.get(pk=call.engagement_id).owner == floor.lead


def test_another_sites_manager_is_refused_call_acts_over_the_socket(floor, call):
    async def scenario():
        socket, _ = await open_board(floor.stranger)
        for act in ("call.listen", "call.coach", "call.barge", "call.leave", "call.take_over"):
            await send(socket, {"type": act, "call_id": call.pk, "ref": act})
            error = await receive_until(socket, "error")
            assert (error["code"], error["ref"]) == ("not_supervisor", act)
        await socket.disconnect()

    floor.stranger.refresh_from_db()
    asyncio.run(scenario())
    assert not SupervisorAct.objects.exists()
    assert not Leg.objects.filter(call=call, kind="supervisor").exists()


def test_the_chat_reassign_refuses_an_answered_call_or_giving_a_call_to_an_operator(floor, call):
    """A call's owner changes with its legs: routing and Take over do that, not the chat's reassign."""
    from supervision import services

    for target in ({"to_operator_id": floor.bob.pk}, {"to_queue_id": floor.centre.resolution.pk}):
        with pytest.raises(SupervisionError) as refused:
            services.reassign(supervisor=floor.lead.user, engagement_id=call.engagement_id, **target)
        assert refused.value.code == "is_call"
    engagement = Engagement.objects.get(pk=call.engagement_id)
    assert (engagement.owner, engagement.queue) == (floor.alice, floor.centre.sales)
    assert not SupervisorAct.objects.exists()


def test_a_call_that_ends_closes_the_supervisors_watch(floor, call):
    from telephony import services as telephony

    voice.listen(supervisor=floor.lead.user, call_id=call.pk)
    assert open_watch(floor.lead.user) is not None
    customer = Leg.objects.get(call=call, kind=Leg.Kind.CUSTOMER)
    telephony.hang_up(leg_id=customer.pk)  # the caller hangs up
    assert Engagement.objects.get(pk=call.engagement_id).state == "ended"
    assert open_watch(floor.lead.user) is None
