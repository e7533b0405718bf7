"""The phone seed, live: a simulated caller and operators A, B and C in four Chromium contexts.

call → Transfer/Conf → consult → Conference → Transfer (release) → B transfers again to C.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpdesk.models import DispositionCode, Engagement, Media
from telephony.models import Leg
from tests.browser.conftest import screenshot
from tests.factories import DispositionCodeFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone_centre():
    site = SiteFactory(name="London")
    front, specialists = TeamFactory(site=site, name="Front line"), TeamFactory(site=site, name="Specialists")
    sales = QueueFactory(site=site, name="Sales line", media=Media.VOICE, teams=[front])
    DispositionCodeFactory(queue=sales, kind=DispositionCode.Kind.TRANSFER, name="Needs a specialist")
    QueueFactory(site=site, name="Resolution Specialists", media=Media.VOICE, teams=[specialists])
    a = OperatorFactory(site=site, display_name="Alice Archer", teams=[front], available=[Media.VOICE])
    b = OperatorFactory(site=site, display_name="Bob Baker", teams=[specialists], available=[Media.VOICE])
    c = OperatorFactory(site=site, display_name="Carol Chen", teams=[specialists], available=[Media.VOICE])
    return a, b, c


def open_phone(new_page, operator):
    page = new_page(user=operator.user, path="/phone/")
    expect(page.locator("#conn")).to_contain_text("Connected")
    return page


def test_call_consult_conference_release_and_transfer_again(new_page, phone_centre):
    a, b, c = phone_centre
    alice, bob, carol = (open_phone(new_page, op) for op in (a, b, c))
    screenshot(alice, "phone-01-idle")

    caller = new_page(path="/phone/simulator/")
    caller.select_option("#queue", label="Sales line · London")
    caller.fill("#caller-name", "Pat Caller")
    caller.click("[data-testid=call-button]")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("Waiting for an operator")
    screenshot(caller, "phone-02-simulator-waiting")

    # A is rung and answers.
    prompt = alice.locator("[data-testid=call-prompt]")
    expect(prompt).to_contain_text("Pat Caller")
    screenshot(alice, "phone-03-incoming")
    prompt.get_by_role("button", name="Answer").click()
    expect(alice.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Alice Archer")

    # Transfer/Conf → the Resolution Specialists skill → Call: the customer goes on hold, B rings.
    alice.click("[data-testid=transfer-conf]")
    picker = alice.locator("[data-testid=picker]")
    expect(picker.locator("[data-testid=skill-list]")).to_contain_text("Resolution Specialists")
    expect(picker.locator("[data-testid=skill-list]")).to_contain_text("2 available")
    picker.locator("[data-testid=skill-list] .list-item", has_text="Resolution Specialists").click()
    # The Sales line's transfer reasons are offered (optional there); the target sees the one picked.
    picker.get_by_label("Reason for the transfer").select_option(label="Needs a specialist")
    screenshot(alice, "phone-04-picker")
    picker.locator("[data-testid=picker-call]").click()
    expect(picker).to_be_hidden()
    expect(alice.locator("#leg-customer [data-role=state]")).to_have_text("On hold")
    expect(alice.locator("#leg-consult")).to_contain_text("Bob Baker")
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Ringing…")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("On hold")

    consult_prompt = bob.locator("[data-testid=consult-prompt]")
    expect(consult_prompt).to_contain_text("Consult from Alice Archer")
    expect(consult_prompt).to_contain_text("Reason: Needs a specialist")
    screenshot(bob, "phone-05-consult-incoming")
    consult_prompt.get_by_role("button", name="Answer").click()
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    expect(bob.locator("[data-testid=target-note]")).to_contain_text("Pat Caller is on hold")
    # The queue disallows cold transfer: its Transfer button is not offered.
    expect(alice.locator("[data-testid=cold-transfer]")).to_be_hidden()
    expect(alice.locator("[data-testid=hang-up-consult]")).to_be_visible()
    screenshot(alice, "phone-06-consulting")

    # Conference: the customer comes off hold; B cannot transfer while A stays.
    alice.click("[data-testid=conference]")
    expect(alice.locator("[data-testid=conference-bar]")).to_be_visible()
    expect(alice.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("Connected")
    expect(bob.locator("[data-testid=target-note]")).to_contain_text("Alice Archer is still on the call")
    expect(bob.locator("[data-testid=transfer-conf]")).to_be_hidden()
    expect(bob.locator("[data-testid=release]")).to_be_hidden()
    screenshot(alice, "phone-07-conference")
    screenshot(bob, "phone-08-conference-target")

    # End Conference asks first, saying it hangs up on everyone; keep the call.
    alice.click("[data-testid=end-conference]")
    confirm = alice.locator("[data-testid=confirm]")
    expect(confirm).to_contain_text("hangs up on everyone")
    screenshot(alice, "phone-09-end-conference-confirm")
    confirm.locator("[data-testid=confirm-cancel]").click()
    expect(alice.locator("[data-testid=conference-bar]")).to_be_visible()

    # Transfer (release): A leaves, B owns the call and may transfer again.
    alice.click("[data-testid=release]")
    expect(alice.locator("#ended-note")).to_contain_text("You transferred the call to Bob Baker")
    expect(bob.locator("[data-testid=transfer-conf]")).to_be_visible()
    expect(bob.locator("[data-testid=target-note]")).to_be_hidden()
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Bob Baker")
    screenshot(bob, "phone-10-released-to-b")

    # B transfers again, to C picked by name, the same way.
    bob.click("[data-testid=transfer-conf]")
    bob.locator("[role=tab][data-tab=operators]").click()
    bob.fill("[data-testid=operator-search]", "carol")
    bob.locator("[data-testid=operator-list] .list-item", has_text="Carol Chen").click()
    expect(bob.locator("[data-testid=operator-list]")).not_to_contain_text("Alice Archer")
    bob.locator("[data-testid=picker-call]").click()
    carol.locator("[data-testid=consult-prompt]").get_by_role("button", name="Answer").click()
    expect(bob.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    bob.click("[data-testid=conference]")
    bob.click("[data-testid=release]")
    expect(bob.locator("#ended-note")).to_contain_text("You transferred the call to Carol Chen")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Carol Chen")
    expect(carol.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    screenshot(carol, "phone-11-carol-owns")
    screenshot(caller, "phone-12-simulator-connected")

    # The caller hangs up: every leg ends.
    caller.click("[data-testid=caller-hang-up]")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("Call ended")
    expect(carol.locator("#ended-note")).to_contain_text("Pat Caller hung up")
    screenshot(carol, "phone-13-ended")
    engagement = Engagement.objects.get()
    assert engagement.state == Engagement.State.ENDED
    assert [o.operator for o in engagement.ownerships.all()] == [a, b, c]
    assert not Leg.objects.filter(state__in=Leg.OPEN_STATES).exists()


def test_no_agent_for_the_skill_is_said_before_ringing_and_a_number_can_be_called(new_page, phone_centre):
    a, b, c = phone_centre
    from helpdesk.models import Availability, Queue
    from helpdesk.services.presence import set_availability

    for operator in (b, c):
        set_availability(operator=operator, media=Media.VOICE, status=Availability.Status.AWAY)
    Queue.objects.filter(name="Sales line").update(cold_transfer_allowed=True)
    alice = open_phone(new_page, a)
    caller = new_page(path="/phone/simulator/")
    caller.select_option("#queue", label="Sales line · London")
    caller.fill("#caller-name", "Pat Caller")
    caller.click("[data-testid=call-button]")
    alice.locator("[data-testid=call-prompt]").get_by_role("button", name="Answer").click()
    alice.click("[data-testid=transfer-conf]")
    skills = alice.locator("[data-testid=skill-list]")
    expect(skills.locator(".list-item", has_text="Resolution Specialists")).to_contain_text("Nobody free")
    expect(skills.locator(".list-item", has_text="Resolution Specialists")).to_be_disabled()

    # An invalid number is refused in the picker; a valid one rings the outside line.
    alice.locator("[role=tab][data-tab=number]").click()
    alice.fill("[data-testid=phone-number]", "12345")
    alice.click("[data-testid=picker-call]")
    expect(alice.locator("#picker-error")).to_contain_text("country code")
    alice.fill("[data-testid=phone-number]", "+1 202 555 0123")
    alice.click("[data-testid=picker-call]")
    expect(alice.locator("#leg-consult")).to_contain_text("+12025550123")

    outside = new_page(path="/phone/simulator/")
    outside.fill("[data-testid=outside-number]", "+12025550123")
    outside.press("[data-testid=outside-number]", "Enter")
    outside.locator("[data-testid=outside-legs]").get_by_role("button", name="Answer").click()
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    screenshot(outside, "phone-14-outside-line")

    # This queue allows cold transfer: the button shows, and asks first with a clear warning.
    alice.click("[data-testid=cold-transfer]")
    confirm = alice.locator("[data-testid=confirm]")
    expect(confirm).to_contain_text("Cold transfer?")
    expect(confirm).to_contain_text("without introducing them")
    screenshot(alice, "phone-15-cold-transfer-warning")
    confirm.locator("[data-testid=confirm-cancel]").click()
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    alice.click("[data-testid=hang-up-consult]")
    expect(alice.locator("#leg-consult")).to_be_hidden()
    expect(alice.locator("[data-testid=unhold]")).to_be_visible()
    alice.click("[data-testid=unhold]")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Alice Archer")


def call_in(new_page, name: str = "Pat Caller"):
    caller = new_page(path="/phone/simulator/")
    caller.select_option("#queue", label="Sales line · London")
    caller.fill("#caller-name", name)
    caller.click("[data-testid=call-button]")
    return caller


def consult_operator(page, name: str, search: str) -> None:
    page.click("[data-testid=transfer-conf]")
    page.locator("[role=tab][data-tab=operators]").click()
    page.fill("[data-testid=operator-search]", search)
    page.locator("[data-testid=operator-list] .list-item", has_text=name).click()
    page.locator("[data-testid=picker-call]").click()
    expect(page.locator("#leg-consult")).to_contain_text(name)


def test_cold_transfer_decline_and_end_conference_are_clicked_through(new_page, phone_centre):
    """The acts the seed warns about, confirmed for real: a cold transfer to C (warning accepted),
    a declined consult (the initiator is back with the customer), End Conference (everyone)."""
    from helpdesk.models import Queue

    a, b, c = phone_centre
    Queue.objects.filter(name="Sales line").update(cold_transfer_allowed=True)
    alice, bob, carol = (open_phone(new_page, op) for op in (a, b, c))
    caller = call_in(new_page)
    alice.locator("[data-testid=call-prompt]").get_by_role("button", name="Answer").click()
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Alice Archer")

    # Cold transfer to C: A consults C, C answers, A clicks Transfer and accepts the warning.
    consult_operator(alice, "Carol Chen", "carol")
    carol.locator("[data-testid=consult-prompt]").get_by_role("button", name="Answer").click()
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    alice.click("[data-testid=cold-transfer]")
    confirm = alice.locator("[data-testid=confirm]")
    expect(confirm).to_contain_text("without introducing them")
    confirm.locator("[data-testid=confirm-ok]").click()
    expect(alice.locator("#ended-note")).to_contain_text("You transferred the call to Carol Chen")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Carol Chen")
    expect(carol.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    expect(carol.locator("[data-testid=transfer-conf]")).to_be_visible()
    screenshot(carol, "phone-16-after-cold-transfer")

    # C consults B, who declines: C is back with the customer (on hold until taken off hold).
    consult_operator(carol, "Bob Baker", "bob")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("On hold")
    bob.locator("[data-testid=consult-prompt]").get_by_role("button", name="Decline").click()
    expect(bob.locator("[data-testid=consult-prompt]")).to_have_count(0)
    expect(carol.locator("#leg-consult")).to_be_hidden()
    expect(carol.locator("[data-testid=unhold]")).to_be_visible()
    carol.click("[data-testid=unhold]")
    expect(carol.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Carol Chen")

    # C consults B again (B is set back to Available after declining), B answers, Conference.
    bob.select_option("[data-testid=voice-status]", "available")
    expect(bob.locator("#voice-hint")).to_contain_text("Calls to your skills ring here")
    consult_operator(carol, "Bob Baker", "bob")
    bob.locator("[data-testid=consult-prompt]").get_by_role("button", name="Answer").click()
    expect(carol.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    carol.click("[data-testid=conference]")
    expect(carol.locator("[data-testid=conference-bar]")).to_be_visible()
    # The footer's hang-up would hand the call to B, not end it: the button says so.
    expect(carol.locator("[data-testid=hang-up]")).to_have_text("Leave — Bob Baker takes the call")
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("Connected")
    carol.screenshot(path="/tmp/phone-mid-conference.png", full_page=True)
    screenshot(carol, "phone-17-conference")

    # End Conference, confirmed once: every leg hangs up, the caller's too.
    carol.click("[data-testid=end-conference]")
    confirm = carol.locator("[data-testid=confirm]")
    expect(confirm).to_contain_text("hangs up on everyone")
    confirm.locator("[data-testid=confirm-ok]").click()
    expect(caller.locator("[data-testid=caller-status]")).to_contain_text("Call ended")
    expect(carol.locator("#ended-note")).to_be_visible()
    expect(bob.locator("#ended-note")).to_be_visible()
    screenshot(carol, "phone-18-conference-ended")
    engagement = Engagement.objects.get()
    assert engagement.state == Engagement.State.ENDED
    assert [o.operator for o in engagement.ownerships.all()] == [a, c]
    assert not Leg.objects.filter(state__in=Leg.OPEN_STATES).exists()
    assert set(Leg.objects.filter(operator=b).values_list("end_reason", flat=True)) == {"declined", "hung_up"}
