"""Fixtures of the transfer tests: a site with a chat queue, three operators, an engagement Alice owns."""

from __future__ import annotations

import pytest
from django.db import transaction

from helpdesk.lock_objects import lock_availability, lock_engagement
from helpdesk.models import Availability, Engagement, Media, Ownership
from helpdesk.services.routing import take_ownership
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory


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
