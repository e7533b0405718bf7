"""Routing and an operator entering wrap-up, in real concurrent PostgreSQL transactions.

The chat's end (which opens the wrap-up and frees the operator's slot) holds the operator's
availability row until it commits; a router running meanwhile skips the row (SKIP LOCKED), and
once it can see the row again it sees the wrap-up too. So a router never hands the operator work
in the moment between their slot being freed and their wrap-up being counted.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from helpdesk.models import Availability, Engagement, Media, Ownership, WrapUp, WrapUpMode
from helpdesk.services.engagements import end_engagement
from helpdesk.services.routing import route_engagement
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The end holds its transaction this long after opening the wrap-up: longer than the router's first
# try, shorter than all its retries (routing.ROUTING_ATTEMPTS), so the router sees both sides.
HOLD_SECONDS = 0.12


def end_while_routing(mode: str):
    """One operator (capacity 2) holds a chat; it ends while a router offers them a waiting one."""
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], wrap_up_mode=mode)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=2)
    held = EngagementFactory(queue=queue)
    assert route_engagement(engagement_id=held.pk) == operator
    waiting = EngagementFactory(queue=queue)
    ended = threading.Event()
    outcome: dict = {}
    errors: list[BaseException] = []

    def end_the_chat():
        try:
            with transaction.atomic():
                end_engagement(engagement_id=held.pk, reason=Engagement.EndReason.VISITOR_LEFT)
                ended.set()  # slot freed (and wrap-up counted), not committed yet
                time.sleep(HOLD_SECONDS)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def route_the_waiting_one():
        try:
            assert ended.wait(10)
            outcome["routed_to"] = route_engagement(engagement_id=waiting.pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=end_the_chat), threading.Thread(target=route_the_waiting_one)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    waiting.refresh_from_db()
    return operator, waiting, outcome["routed_to"]


def test_routing_never_hands_work_to_an_operator_entering_wrap_up():
    operator, waiting, routed_to = end_while_routing(WrapUpMode.MANDATORY)
    # Neither the racing router nor the routing the end runs on commit for the freed operator.
    assert routed_to is None
    assert waiting.state == Engagement.State.QUEUED and waiting.owner_id is None
    availability = Availability.objects.get(operator=operator, media=Media.CHAT)
    assert availability.load == 0 and availability.wrap_ups == 1
    assert WrapUp.objects.filter(operator=operator, ended_at__isnull=True).count() == 1
    # No stretch of theirs began while the wrap-up was open.
    opened = WrapUp.objects.get(operator=operator).started_at
    assert not Ownership.objects.filter(operator=operator, started_at__gte=opened).exists()


def test_without_wrap_up_the_same_race_gives_the_freed_slot_to_the_waiting_chat():
    """The control: the choreography above does reach the operator when the queue has no wrap-up (by the
    racing router, or by the routing the end runs on commit for the operator it freed)."""
    operator, waiting, routed_to = end_while_routing(WrapUpMode.NONE)
    assert routed_to in (operator, None)
    assert waiting.state == Engagement.State.ACTIVE and waiting.owner_id == operator.pk
