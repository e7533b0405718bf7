"""Fixtures of the transfer tests: a site with two chat queues, three operators, an engagement Alice
owns; and the small steps the tests of every act share (request to an operator, make it overdue, ...)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from helpdesk.lock_objects import lock_availability, lock_engagement
from helpdesk.models import Availability, Engagement, Media, Ownership
from helpdesk.services.routing import take_ownership
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory
from transfers import services
from transfers.models import Transfer, TransferOffer


def give_engagement(*, owner, queue, visitor_name: str = "Vera Visitor", media: str = Media.CHAT) -> Engagement:
    """An engagement of `queue` that `owner` holds (as routing would have given it)."""
    engagement = EngagementFactory(queue=queue, visitor__name=visitor_name)
    with transaction.atomic():
        locked = lock_engagement(engagement.pk)
        availability = lock_availability(operator_id=owner.pk, media=media)
        take_ownership(engagement=locked, availability=availability, because=Ownership.Start.ROUTED)
    engagement.refresh_from_db()
    return engagement


def set_status(operator, status, media=Media.CHAT):
    Availability.objects.filter(operator=operator, media=media).update(status=status)


def request_to(operator, engagement, initiator, **kwargs) -> Transfer:
    """`initiator` asks `operator` to take `engagement` (keyword arguments as request_transfer's)."""
    return services.request_transfer(
        engagement_id=engagement.pk, initiator=initiator, target_operator_id=operator.pk, **kwargs
    )


def accepted(engagement, initiator, target) -> Transfer:
    """A transfer of `engagement` that `target` has accepted, waiting for Transfer Now."""
    transfer = request_to(target, engagement, initiator)
    return services.accept_transfer(transfer_id=transfer.pk, operator=target)


def make_overdue(transfer) -> None:
    """The transfer's current offer is past its answer deadline (as if its accept timeout ran out)."""
    Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    TransferOffer.objects.filter(transfer=transfer, outcome="pending").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def error_code(excinfo) -> str:
    return excinfo.value.code


def idle_order(*operators) -> None:
    """The first operator given is the longest idle, then the next, ..."""
    for number, operator in enumerate(operators):
        Availability.objects.filter(operator=operator, media="chat").update(
            idle_since=timezone.now() - timedelta(minutes=10 - number)
        )


def offers_of(transfer) -> list[tuple]:
    return [(o.operator, o.outcome) for o in transfer.offers.order_by("offered_at", "pk")]


@pytest.fixture
def site():
    return SiteFactory(name="London")


@pytest.fixture
def team(site):
    return TeamFactory(site=site, name="Support")


@pytest.fixture
def queue(site, team):
    return QueueFactory(site=site, name="General chat", teams=[team])


@pytest.fixture
def queue_b(site, team):
    """A second chat queue of the same team, with a short accept window: the target of queue transfers."""
    return QueueFactory(site=site, name="Billing chat", teams=[team], accept_timeout_seconds=10)


@pytest.fixture
def alice(site, team):
    return OperatorFactory(
        site=site, display_name="Alice Archer", user=UserFactory(username="alice"), teams=[team], available=["chat"]
    )


@pytest.fixture
def bob(site, team):
    return OperatorFactory(
        site=site, display_name="Bob Baker", user=UserFactory(username="bob"), teams=[team], available=["chat"]
    )


@pytest.fixture
def carol(site, team):
    return OperatorFactory(
        site=site, display_name="Carol Chen", user=UserFactory(username="carol"), teams=[team], available=["chat"]
    )


@pytest.fixture
def engagement(alice, queue):
    return give_engagement(owner=alice, queue=queue)


@pytest.fixture
def frames(monkeypatch):
    """Frames the transfer events would send, as (operator_id, frame), without waiting for a commit."""

    class Frames:
        def __init__(self):
            self.sent: list[tuple[int, dict]] = []

        def record(self, operator_id, frame):
            self.sent.append((operator_id, frame))

        def to(self, operator, type_=None):
            return [f for op, f in self.sent if op == operator.pk and (type_ is None or f["type"] == type_)]

    recorder = Frames()
    monkeypatch.setattr("transfers.events.publish_to_operator", recorder.record)
    monkeypatch.setattr(
        "transfers.events.publish_many",
        lambda pairs: [recorder.record(int(group.rsplit(".", 1)[1]), frame) for group, frame in pairs],
    )
    return recorder
