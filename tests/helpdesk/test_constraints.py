"""The database itself refuses data that would break the domain's invariants."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Message, Ownership
from tests.factories import (
    EngagementFactory,
    MessageFactory,
    NoteFactory,
    OperatorFactory,
    OwnershipFactory,
    QueueFactory,
)

pytestmark = pytest.mark.django_db


def test_message_sequence_is_unique_per_engagement():
    message = MessageFactory(seq=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(engagement=message.engagement, seq=1)
    MessageFactory(seq=1)  # another engagement may use 1 too


def test_engagement_has_at_most_one_open_ownership():
    operator_a, operator_b = OperatorFactory(), OperatorFactory()
    engagement = EngagementFactory()
    OwnershipFactory(engagement=engagement, operator=operator_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ownership.objects.create(
            engagement=engagement, operator=operator_b, started_at=timezone.now(), started_because="routed"
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "lost"},
        {"media": "fax"},
        {"state": Engagement.State.ACTIVE, "owner": None},
        {"state": Engagement.State.ENDED, "ended_at": None},
    ],
    ids=["unknown state", "unknown media", "active without owner", "ended without end time"],
)
def test_engagement_state_rules(changes):
    engagement = EngagementFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Engagement.objects.filter(pk=engagement.pk).update(**changes)


def test_queued_engagement_has_no_owner():
    engagement = EngagementFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Engagement.objects.filter(pk=engagement.pk).update(owner=OperatorFactory())


@pytest.mark.parametrize(
    "changes",
    [{"capacity": -1}, {"status": "asleep"}, {"capacity": 1, "load": 2}],
    ids=["negative capacity", "unknown status", "load over capacity"],
)
def test_availability_rules(changes):
    operator = OperatorFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Availability.objects.filter(operator=operator, media="chat").update(**changes)


def test_one_availability_row_per_media():
    operator = OperatorFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Availability.objects.create(operator=operator, media="chat")


def test_queue_accept_timeout_has_a_floor_and_one_default_per_site_and_media():
    queue = QueueFactory(is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        QueueFactory(site=queue.site, is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        QueueFactory(accept_timeout_seconds=1)


def test_message_sender_must_be_known():
    message = MessageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=message.pk).update(sender="robot")


@pytest.mark.parametrize("factory", [MessageFactory, NoteFactory], ids=["message", "note"])
def test_message_and_note_bodies_are_at_most_the_apps_limit(factory, settings):
    limit = settings.MESSAGE_MAX_LENGTH
    row = factory(body="é" * limit)  # the limit counts characters, not bytes
    with pytest.raises(IntegrityError), transaction.atomic():
        type(row).objects.filter(pk=row.pk).update(body="x" * (limit + 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(body="x" * (limit + 1))
