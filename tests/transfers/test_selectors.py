"""The reads of the transfer dialog and of the engagement's transfer history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability
from tests.factories import OperatorFactory, SiteFactory, UserFactory
from tests.transfers.conftest import request_to
from transfers import services

pytestmark = pytest.mark.django_db


# --- history ---------------------------------------------------------------------------------------


def test_every_attempt_is_kept_with_target_state_reason_and_times(engagement, alice, bob, carol, frames):
    from transfers.selectors import transfer_history

    first = request_to(bob, engagement, alice, warm_message="Warm")
    services.decline_transfer(transfer_id=first.pk, operator=bob, reason="Lunch")
    second = request_to(carol, engagement, alice, warm_message="Warm")
    services.accept_transfer(transfer_id=second.pk, operator=carol)
    services.transfer_now(transfer_id=second.pk, operator=alice)
    history = transfer_history(engagement_id=engagement.pk)
    assert [(t.target_name, t.state, t.reason_text) for t in history] == [
        ("Bob Baker", "declined", "Lunch"),
        ("Carol Chen", "completed", ""),
    ]
    assert all(t.requested_at <= t.answered_at <= t.ended_at for t in history)
    assert history[1].completed_at == history[1].ended_at


# --- selectors for the dialog ---------------------------------------------------------------------------


def test_operator_list_excludes_yourself_and_marks_who_cannot_take_it(engagement, alice, bob, carol, frames):
    from transfers.selectors import available_operators_for_transfer

    other_site = SiteFactory(name="Lisbon")
    diogo = OperatorFactory(site=other_site, display_name="Diogo Dias", user=UserFactory(username="diogo"))
    Availability.objects.filter(operator=carol, media="chat").update(load=3, capacity=3)
    Availability.objects.filter(operator=bob, media="voice").update(status="busy")
    options = available_operators_for_transfer(engagement=engagement, initiator=alice)
    by_name = {option.operator.display_name: option for option in options}
    assert set(by_name) == {"Bob Baker", "Carol Chen", "Diogo Dias"}
    assert by_name["Bob Baker"].can_take and by_name["Bob Baker"].statuses == {
        "chat": "available",
        "voice": "busy",
        "video": "offline",
    }
    assert (by_name["Carol Chen"].can_take, by_name["Carol Chen"].why_not) == (False, "At capacity")
    assert (by_name["Diogo Dias"].can_take, by_name["Diogo Dias"].why_not) == (False, "Offline")
    assert options[0].operator == bob  # who can take it first
    lisbon = available_operators_for_transfer(engagement=engagement, initiator=alice, site_id=other_site.pk)
    assert [o.operator for o in lisbon] == [diogo]


@pytest.mark.parametrize("search", ["carol", "CHEN", "carol@example", "support"])
def test_operator_search_by_name_email_or_team(engagement, alice, bob, carol, search, frames):
    from tests.factories import TeamFactory
    from transfers.selectors import available_operators_for_transfer

    if search == "support":
        bob.teams.set([TeamFactory(site=bob.site, name="Sales")])
    found = available_operators_for_transfer(engagement=engagement, initiator=alice, search=search)
    assert [o.operator for o in found] == [carol]


def test_queue_list_shows_waiting_count_and_current_wait(engagement, alice, queue, frames):
    from tests.factories import EngagementFactory
    from transfers.selectors import queues_for_transfer

    EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(seconds=95))
    EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(seconds=10))
    [option] = queues_for_transfer(engagement=engagement)
    assert option.waiting == 2
    assert 95 <= option.longest_wait_seconds < 100
