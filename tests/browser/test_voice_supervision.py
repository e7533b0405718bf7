"""Voice supervision (issue 13.4) in Chromium against Daphne: a caller in the simulator, the operator on
/phone/, the supervisor on /supervisor/ (and on /phone/ once the call is theirs), each in their own
context. Listen and coach are shown to the operator, never to the caller; barge is heard (shown) by
both; take over ends the operator's leg and the caller talks to the supervisor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpdesk.models import Engagement, Media
from supervision.models import SupervisorAct
from telephony.models import Leg
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory
from tests.supervision.conftest import make_supervisor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def voice_floor():
    site = SiteFactory(name="London")
    front = TeamFactory(site=site, name="Front line")
    QueueFactory(site=site, name="Sales line", media=Media.VOICE, teams=[front])
    alice = OperatorFactory(site=site, display_name="Alice Archer", teams=[front], available=[Media.VOICE])
    # A team lead with a voice profile but no skills: routing never rings them, they can take over.
    lead = make_supervisor(
        OperatorFactory(
            site=site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[], available=[Media.VOICE]
        )
    )
    return alice, lead


def answered_call(new_page, alice):
    phone = new_page(user=alice.user, path="/phone/")
    expect(phone.locator("#conn")).to_contain_text("Connected")
    caller = new_page(path="/phone/simulator/")
    caller.select_option("#queue", label="Sales line · London")
    caller.fill("#caller-name", "Pat Caller")
    caller.click("[data-testid=call-button]")
    phone.locator("[data-testid=call-prompt]").get_by_role("button", name="Answer").click()
    expect(caller.get_by_test_id("caller-status")).to_have_text("Connected with Alice Archer")
    return phone, caller


def open_board(new_page, lead):
    board = new_page(user=lead.user, path="/supervisor/")
    expect(board.get_by_test_id("live-status")).to_have_attribute("data-status", "open")
    return board


def test_supervisor_listens_coaches_barges_and_takes_over_a_call(new_page, voice_floor):
    alice, lead = voice_floor
    phone, caller = answered_call(new_page, alice)
    board = open_board(new_page, lead)
    row = board.get_by_test_id("calls").locator("tr", has_text="Pat Caller")
    expect(row).to_contain_text("Alice Archer")
    banner = board.get_by_test_id("my-call")
    supervisor_on_phone = phone.get_by_test_id("leg-supervisor")

    # Listen, by keyboard: muted, the operator sees it, the caller hears (sees) nothing.
    listen = row.get_by_role("button", name="Listen — Pat Caller's call")
    listen.focus()
    listen.press("Enter")
    expect(listen).to_have_attribute("aria-pressed", "true")
    expect(listen).to_be_focused()  # the board redrew the row with the new state: the keyboard keeps its place
    expect(banner).to_contain_text("You are listening to Pat Caller's call with Alice Archer")
    expect(banner).to_contain_text("nobody on the call hears you")
    expect(supervisor_on_phone).to_contain_text("Supervisor Sam Lead listening")
    expect(row).to_contain_text("Sam Lead (listening)")
    expect(caller.get_by_test_id("caller-also")).to_have_text("")
    screenshot(board, "voice-supervision-listen")
    assert_accessible(board, "voice-supervision-wallboard")

    # Coach: only the operator hears the supervisor.
    row.get_by_role("button", name="Coach — Pat Caller's call").click()
    expect(supervisor_on_phone).to_contain_text("Supervisor Sam Lead coaching")
    expect(supervisor_on_phone).to_contain_text("Only you hear them; the caller does not.")
    expect(banner).to_contain_text("You are coaching Alice Archer on Pat Caller's call — only the operator hears you")
    screenshot(phone, "voice-supervision-operator-coached")
    assert_accessible(phone, "voice-supervision-phone-coached")
    caller.wait_for_timeout(1500)  # the simulator polls once a second: still nothing to show
    expect(caller.get_by_test_id("caller-also")).to_have_text("")

    # Barge: a three-way call, the caller hears the supervisor too.
    row.get_by_role("button", name="Barge — Pat Caller's call").click()
    expect(supervisor_on_phone).to_contain_text("Supervisor Sam Lead in the call")
    expect(banner).to_contain_text("You are in Pat Caller's call with Alice Archer — everyone on the call hears you")
    expect(caller.get_by_test_id("caller-also")).to_have_text("Also on the call: Sam Lead (supervisor)")
    screenshot(caller, "voice-supervision-caller-barged")
    assert_accessible(caller, "voice-supervision-simulator")

    # Take over: Alice's leg ends, the call is Sam's (on his phone console), the caller talks to him.
    sam_phone = new_page(user=lead.user, path="/phone/")
    row.get_by_role("button", name="Take over Pat Caller's call").click()
    expect(board.locator("#toasts")).to_contain_text("The call is yours now")
    expect(phone.locator("#ended-note")).to_contain_text("Sam Lead took the call over")
    expect(caller.get_by_test_id("caller-status")).to_have_text("Connected with Sam Lead")
    expect(caller.get_by_test_id("caller-also")).to_have_text("")
    expect(sam_phone.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    expect(sam_phone.get_by_test_id("hang-up")).to_be_visible()
    expect(banner).to_be_hidden()
    screenshot(sam_phone, "voice-supervision-taken-over")

    engagement = Engagement.objects.get()
    assert engagement.owner == lead
    assert Leg.objects.get(operator=alice).end_reason == "taken_over"
    assert list(SupervisorAct.objects.order_by("pk").values_list("act", flat=True)) == [
        "listen",
        "coach",
        "barge",
        "take_over",
    ]


def test_leave_ends_only_the_supervisors_leg(new_page, voice_floor):
    alice, lead = voice_floor
    phone, caller = answered_call(new_page, alice)
    board = open_board(new_page, lead)
    row = board.get_by_test_id("calls").locator("tr", has_text="Pat Caller")
    row.get_by_role("button", name="Barge — Pat Caller's call").click()
    expect(caller.get_by_test_id("caller-also")).to_contain_text("Sam Lead")
    row.get_by_role("button", name="Leave Pat Caller's call").click()
    expect(board.locator("#toasts")).to_contain_text("You left the call")
    expect(phone.get_by_test_id("leg-supervisors")).to_be_hidden()
    expect(caller.get_by_test_id("caller-also")).to_have_text("")
    expect(caller.get_by_test_id("caller-status")).to_have_text("Connected with Alice Archer")
    expect(row.get_by_role("button", name="Leave Pat Caller's call")).to_have_count(0)


def test_another_sites_manager_sees_no_call_and_is_refused_over_the_socket(new_page, voice_floor):
    alice, _ = voice_floor
    phone, _ = answered_call(new_page, alice)
    stranger = ManagerFactory(sites=[SiteFactory(name="Oslo")])
    board = new_page(user=stranger, path="/supervisor/")
    expect(board.get_by_test_id("live-status")).to_have_attribute("data-status", "open")
    expect(board.get_by_test_id("calls")).to_contain_text("No live calls")
    call_id = Leg.objects.get(operator=alice).call_id
    # A crafted frame for the other site's call is refused on the server, and nothing changes.
    board.evaluate(
        """(callId) => new Promise((resolve) => {
             const socket = new WebSocket(`ws://${location.host}/ws/supervisor/`);
             socket.onopen = () => socket.send(JSON.stringify({type: "call.barge", call_id: callId, ref: "x"}));
             socket.onmessage = (event) => { const frame = JSON.parse(event.data);
               if (frame.type === "error") { window.refused = frame.code; socket.close(); resolve(); } };
           })""",
        call_id,
    )
    assert board.evaluate("window.refused") == "not_supervisor"
    expect(phone.get_by_test_id("leg-supervisors")).to_be_hidden()
    assert not SupervisorAct.objects.exists()
    assert not Leg.objects.filter(kind="supervisor").exists()
