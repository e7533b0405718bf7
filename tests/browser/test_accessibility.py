"""WCAG 2.1 AA in the browser: axe-core finds no serious or critical violation on any page, in each
state an operator, a visitor or a manager meets; new chat lines and transfer prompts reach screen
readers through live regions; a transfer can be accepted and handed over with the keyboard alone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from helpdesk.models import Availability
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_phone import open_phone, phone_centre
from tests.browser.test_reports import busy_week
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["busy_week", "phone_centre"]  # the seed tests' phone centre and report week, reused


@pytest.fixture
def company():
    """London's support team: Alice (longest idle, so she gets the visitor) and Bob on chat, Eve away, Oscar offline."""
    london = SiteFactory(name="London")
    support = TeamFactory(site=london, name="Support")
    QueueFactory(site=london, teams=[support], name="General chat", is_default=True)
    QueueFactory(site=london, teams=[support], name="Billing chat")
    alice = OperatorFactory(
        site=london, teams=[support], display_name="Alice Archer", user=UserFactory(username="alice"),
        available=["chat"], chat_capacity=3,
    )  # fmt: skip
    bob = OperatorFactory(
        site=london, teams=[support], display_name="Bob Baker", user=UserFactory(username="bob"),
        available=["chat", "voice"], chat_capacity=3,
    )  # fmt: skip
    eve = OperatorFactory(
        site=london, teams=[support], display_name="Eve Evans", user=UserFactory(username="eve"), available=["chat"]
    )
    Availability.objects.filter(operator=eve, media="chat").update(status="away")  # listed, not pickable
    OperatorFactory(site=london, teams=[support], display_name="Oscar Offline", user=UserFactory(username="oscar"))
    Availability.objects.filter(operator=alice, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    return {"alice": alice, "bob": bob}


def start_visitor(new_page, name: str):
    page = new_page(path="/chat/")
    page.get_by_label("General chat").check()
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/chat/.+/"))
    return page


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def console_of(new_page, operator):
    page = new_page(user=operator.user, path="/console/")
    expect(page.locator("#conn")).to_contain_text("Connected")
    return page


def operator_row(console, name):
    return console.locator("#transfer-operators [role=option]", has_text=name)


def open_dialog(console):
    console.click("[data-testid=transfer-button]")
    dialog = console.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    expect(operator_row(console, "Bob Baker")).to_be_visible()
    return dialog


TAB_LIMIT = 40  # a keyboard user reaches what they need within this many Tab presses


def tab_to(page, selector: str, *, backwards: bool = False) -> int:
    """Press Tab (or Shift+Tab) until `selector` has the focus; how many presses it took."""
    key = "Shift+Tab" if backwards else "Tab"
    for presses in range(1, TAB_LIMIT + 1):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return presses
    raise AssertionError(f"{selector} not reached with {TAB_LIMIT} presses of {key}")


def focus_outline(page) -> dict:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }"""
    )


def assert_visible_focus(page) -> None:
    outline = focus_outline(page)
    assert (outline["style"] != "none" and outline["width"] >= 2) or outline["shadow"] != "none", outline


def test_login_page_and_its_error_are_accessible(new_page):
    page = new_page(path="/accounts/login/")
    assert_accessible(page, "login")
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    assert_accessible(page, "login-error")
    screenshot(page, "a11y-login-error")


def test_visitor_start_page_is_accessible(new_page, company):
    page = new_page(path="/chat/")
    expect(page.get_by_label("General chat")).to_be_checked()
    assert_accessible(page, "visitor-start")
    screenshot(page, "a11y-visitor-start")


def test_chat_lines_land_in_live_logs_on_both_sides_and_both_pages_are_accessible(new_page, company):
    console = console_of(new_page, company["alice"])
    visitor = start_visitor(new_page, "Vera Visitor")
    expect(console.locator("#visitor-name")).to_have_text("Vera Visitor")
    send(visitor, "Hi, I need a refund for order 1042")
    send(console, "Sure, let me look at that")
    # Each side's transcript is a polite live log: a screen reader reads the new line, not the page.
    for page, line in ((console, "refund for order 1042"), (visitor, "let me look at that")):
        log = page.get_by_role("log")
        expect(log).to_have_count(1)
        expect(log).to_have_attribute("aria-live", "polite")
        expect(log).to_contain_text(line)
    assert_accessible(visitor, "visitor-chat")
    assert_accessible(console, "console-chat")
    screenshot(visitor, "a11y-visitor-chat")
    screenshot(console, "a11y-console-chat")

    # A long chat scrolls: the log itself takes focus so the keyboard can scroll it (WCAG 2.1.1).
    for n in range(1, 16):
        send(visitor, f"Line {n} of a long story about order 1042")
    expect(console.locator("#transcript")).to_contain_text("Line 15 of a long story")
    expect(visitor.locator("#transcript")).to_contain_text("Line 15 of a long story")
    for page, name in ((visitor, "visitor-chat-long"), (console, "console-chat-long")):
        log = page.locator("#transcript")
        assert log.evaluate("log => log.scrollHeight > log.clientHeight"), "the transcript should overflow"
        assert_accessible(page, name)
    console.locator("#composer-input").focus()
    console.keyboard.press("Shift+Tab")
    expect(console.locator("#transcript")).to_be_focused()
    assert_visible_focus(console)

    console.once("dialog", lambda dialog: dialog.accept())
    console.click("#end-engagement")
    expect(visitor.locator("#status-title")).to_have_text("Conversation ended")
    assert_accessible(visitor, "visitor-chat-ended")
    assert_accessible(console, "console-chat-ended")


def test_transfer_dialog_prompt_and_declined_popup_are_accessible(new_page, company):
    console_a = console_of(new_page, company["alice"])
    console_b = console_of(new_page, company["bob"])
    start_visitor(new_page, "Vera Visitor")
    expect(console_a.locator("#visitor-name")).to_have_text("Vera Visitor")

    dialog = open_dialog(console_a)
    assert_accessible(console_a, "transfer-dialog-operators")
    screenshot(console_a, "a11y-transfer-dialog")
    console_a.click("#transfer-tab-queues")
    expect(console_a.locator("#transfer-queues [role=option]")).to_have_count(2)
    assert_accessible(console_a, "transfer-dialog-queues")
    console_a.click("#transfer-tab-operators")
    operator_row(console_a, "Bob Baker").click()
    console_a.fill("#transfer-warm", "Refund for order 1042")
    console_a.click("[data-testid=transfer-start]")
    expect(dialog).to_be_hidden()
    expect(console_a.locator("[data-testid=transfer-banner]")).to_contain_text("Waiting for Bob Baker")
    assert_accessible(console_a, "transfer-waiting")
    screenshot(console_a, "a11y-transfer-waiting")

    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible()
    assert_accessible(console_b, "transfer-prompt")
    screenshot(console_b, "a11y-transfer-prompt")
    # Decline with the keyboard: Tab to Decline, Enter opens the reason (focused), Enter sends it.
    tab_to(console_b, "[data-testid=transfer-decline]")
    assert_visible_focus(console_b)
    console_b.keyboard.press("Enter")
    expect(prompt.locator("[data-testid=transfer-decline-reason]")).to_be_focused()
    assert_accessible(console_b, "transfer-prompt-decline-reason")
    console_b.keyboard.type("On a break")
    console_b.keyboard.press("Enter")
    expect(prompt).to_have_count(0)
    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("On a break")
    expect(console_a.locator("[data-testid=transfer-back]")).to_be_focused()
    assert_accessible(console_a, "transfer-declined")
    screenshot(console_a, "a11y-transfer-declined")


def test_transfer_prompt_is_announced_and_accepted_then_handed_over_with_the_keyboard_only(new_page, company):
    """Bob hears the prompt (an alertdialog in an assertive region), reaches Accept with Tab and presses
    Enter; Alice reaches Transfer Now from her reply box with Shift+Tab and presses Space."""
    console_a = console_of(new_page, company["alice"])
    console_b = console_of(new_page, company["bob"])
    visitor = start_visitor(new_page, "Vera Visitor")
    expect(console_a.locator("#visitor-name")).to_have_text("Vera Visitor")
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.click("[data-testid=transfer-start]")

    prompt = console_b.get_by_role("alertdialog", name=re.compile("Incoming transfer from Alice Archer"))
    expect(prompt).to_be_visible()
    live = console_b.locator("#transfer-prompts")
    assert live.get_attribute("aria-live") == "assertive"
    expect(live).to_contain_text("Alice Archer wants to transfer Vera Visitor to you")

    assert tab_to(console_b, "[data-testid=transfer-accept]") <= 12
    assert_visible_focus(console_b)
    screenshot(console_b, "a11y-keyboard-accept-focused")
    console_b.keyboard.press("Enter")
    expect(prompt).to_have_count(0)

    banner = console_a.locator("[data-testid=transfer-banner]")
    expect(banner).to_contain_text("Bob Baker accepted the transfer")
    expect(banner).to_have_attribute("role", "status")  # the acceptance is read out where Alice is
    console_a.locator("#composer-input").focus()
    assert tab_to(console_a, "[data-testid=transfer-now]", backwards=True) <= 3
    assert_visible_focus(console_a)
    assert_accessible(console_a, "transfer-accepted")
    screenshot(console_a, "a11y-keyboard-transfer-now-focused")
    console_a.keyboard.press("Space")
    expect(visitor.locator("#status-title")).to_have_text("Bob Baker")
    expect(console_b.locator("#visitor-name")).to_have_text("Vera Visitor")
    expect(console_a.locator("[data-testid=transfer-readonly]")).to_be_visible()
    assert_accessible(console_a, "transfer-readonly")
    assert_accessible(console_b, "transfer-new-owner")
    screenshot(console_a, "a11y-transfer-readonly")


def test_transfer_dialog_is_driven_with_the_keyboard_only(new_page, company):
    """Open Transfer, pick Bob from the list with arrows, start it: Tab, arrows and Enter only."""
    console_a = console_of(new_page, company["alice"])
    console_b = console_of(new_page, company["bob"])
    start_visitor(new_page, "Vera Visitor")
    expect(console_a.locator("#visitor-name")).to_have_text("Vera Visitor")
    console_a.locator("#composer-input").focus()
    tab_to(console_a, "[data-testid=transfer-button]", backwards=True)
    assert_visible_focus(console_a)
    console_a.keyboard.press("Enter")
    expect(console_a.locator("#transfer-search")).to_be_focused()
    console_a.keyboard.type("bob")
    expect(console_a.locator("#transfer-operators [role=option]")).to_have_count(1)
    tab_to(console_a, "#transfer-operators [role=option]")
    assert_visible_focus(console_a)
    console_a.keyboard.press("Enter")
    expect(operator_row(console_a, "Bob Baker")).to_have_attribute("aria-selected", "true")
    tab_to(console_a, "[data-testid=transfer-start]")
    console_a.keyboard.press("Enter")
    expect(console_b.locator("[data-testid=transfer-prompt]")).to_be_visible()


def test_every_stylesheet_focus_style_is_visible(new_page, company):
    """A :focus-visible rule exists and none of them removes the outline without a replacement."""
    page = console_of(new_page, company["alice"])
    rules = page.evaluate(
        """() => [...document.styleSheets].flatMap((sheet) => [...sheet.cssRules])
              .filter((rule) => rule.selectorText && /:focus/.test(rule.selectorText))
              .map((rule) => ({selector: rule.selectorText, outline: rule.style.outlineStyle || rule.style.outline,
                               shadow: rule.style.boxShadow}))"""
    )
    visible = [r for r in rules if ":focus-visible" in r["selector"] and r["outline"] not in ("", "none", "0")]
    assert visible, rules
    # `:focus:not(:focus-visible)` may drop the ring for a mouse or a script; nothing else may.
    hidden = [
        r
        for r in rules
        if r["outline"] in ("none", "0") and not r["shadow"] and ":not(:focus-visible)" not in r["selector"]
    ]
    assert not hidden, hidden
    page.locator("body").focus()
    tab_to(page, "select[data-media=chat]")
    assert_visible_focus(page)


def test_phone_console_idle_ringing_on_a_call_and_picker_are_accessible(new_page, phone_centre):
    a, b, c = phone_centre
    alice, bob = open_phone(new_page, a), open_phone(new_page, b)
    expect(alice.locator("#skill-overview")).to_contain_text("Sales line")
    assert_accessible(alice, "phone-idle")
    caller = new_page(path="/phone/simulator/")
    caller.select_option("#queue", label="Sales line · London")
    caller.fill("#caller-name", "Pat Caller")
    caller.click("[data-testid=call-button]")
    prompt = alice.locator("[data-testid=call-prompt]")
    expect(prompt).to_contain_text("Pat Caller")
    expect(alice.locator("#prompts")).to_have_attribute("aria-live", "assertive")  # the ring is read out
    assert_accessible(alice, "phone-ringing")
    assert_accessible(caller, "simulator-waiting")
    # Answered from the keyboard: Tab reaches the ringing prompt's Answer.
    assert tab_to(alice, "[data-testid=call-prompt] [data-testid=answer]") <= 15
    assert_visible_focus(alice)
    alice.keyboard.press("Enter")
    expect(alice.locator("#leg-customer [data-role=state]")).to_have_text("Connected")
    assert_accessible(alice, "phone-on-call")
    screenshot(alice, "a11y-phone-on-call")
    tab_to(alice, "[data-testid=transfer-conf]")
    alice.keyboard.press("Enter")
    picker = alice.locator("[data-testid=picker]")
    expect(picker.locator("[data-testid=skill-list]")).to_contain_text("Resolution Specialists")
    assert_accessible(alice, "phone-picker")
    screenshot(alice, "a11y-phone-picker")
    expect(caller.locator("[data-testid=caller-status]")).to_have_text("Connected with Alice Archer")
    assert_accessible(caller, "simulator-connected")

    # A consult to the specialists, then the conference: both operators' screens.
    picker.locator("[data-testid=skill-list] .list-item", has_text="Resolution Specialists").click()
    picker.locator("[data-testid=picker-call]").click()
    consult_prompt = bob.locator("[data-testid=consult-prompt]")
    expect(consult_prompt).to_contain_text("Consult from Alice Archer")
    assert_accessible(bob, "phone-consult-ringing")
    consult_prompt.get_by_role("button", name="Answer").click()
    expect(alice.locator("#leg-consult [data-role=state]")).to_have_text("Connected")
    assert_accessible(alice, "phone-consulting")
    alice.click("[data-testid=conference]")
    expect(alice.locator("[data-testid=conference-bar]")).to_be_visible()
    expect(bob.locator("[data-testid=target-note]")).to_contain_text("Alice Archer is still on the call")
    assert_accessible(alice, "phone-conference")
    assert_accessible(bob, "phone-conference-target")
    screenshot(alice, "a11y-phone-conference")
    alice.click("[data-testid=end-conference]")
    expect(alice.locator("[data-testid=confirm]")).to_contain_text("hangs up on everyone")
    assert_accessible(alice, "phone-end-conference-confirm")


def test_caller_simulator_is_accessible(new_page, phone_centre):
    page = new_page(path="/phone/simulator/")
    assert_accessible(page, "simulator")
    screenshot(page, "a11y-simulator")


def test_reports_page_is_accessible(new_page, busy_week):
    page = new_page(user=busy_week["manager"], path="/reports/?start=2026-03-02&end=2026-03-08")
    expect(page.locator("#chart-volume svg.chart")).to_be_visible()
    assert_accessible(page, "reports")
    screenshot(page, "a11y-reports")


def test_an_operator_without_engagements_sees_an_accessible_console(new_page, company):
    operator = OperatorFactory(display_name="Nia New", available=["chat"])
    page = console_of(new_page, operator)
    assert_accessible(page, "console-empty")
