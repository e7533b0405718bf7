"""The capacity service is the one writer of an operator's load, and says "full" where it fills them up."""

import pytest
from django.db import IntegrityError, transaction

from helpdesk.lock_objects import lock_availability
from helpdesk.models import Availability, Media
from helpdesk.services.capacity import free_capacity, occupy_capacity
from helpdesk.services.presence import set_availability
from helpdesk.signals import operator_reached_capacity
from tests.factories import OperatorFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def said_full():
    heard = []

    def listen(sender, *, operator, media, **kwargs):
        heard.append((operator.pk, media))

    operator_reached_capacity.connect(listen, dispatch_uid="test.said_full")
    yield heard
    operator_reached_capacity.disconnect(dispatch_uid="test.said_full")


def occupy(operator, media=Media.CHAT):
    with transaction.atomic():
        return occupy_capacity(availability=lock_availability(operator_id=operator.pk, media=media))


def test_full_is_said_once_when_the_last_slot_is_taken(said_full):
    operator = OperatorFactory(site=SiteFactory(), available=["chat"], chat_capacity=2)
    assert occupy(operator).load == 1 and said_full == []
    assert occupy(operator).load == 2
    assert said_full == [(operator.pk, "chat")]


def test_a_full_operator_changing_status_is_not_said_full_again(said_full):
    operator = OperatorFactory(site=SiteFactory(), available=["chat"], chat_capacity=1)
    occupy(operator)
    set_availability(operator=operator, media="chat", status="away")
    set_availability(operator=operator, media="chat", status="available")
    assert said_full == [(operator.pk, "chat")]


def test_the_database_refuses_a_slot_past_capacity():
    operator = OperatorFactory(site=SiteFactory(), available=["voice"])
    occupy(operator, Media.VOICE)
    with pytest.raises(IntegrityError):
        occupy(operator, Media.VOICE)


def test_freeing_the_last_slot_makes_the_operator_idle_and_never_goes_below_zero():
    operator = OperatorFactory(site=SiteFactory(), available=["chat"], chat_capacity=2)
    occupy(operator)
    with transaction.atomic():
        freed = free_capacity(operator_id=operator.pk, media="chat")
    assert freed.load == 0 and freed.idle_since is not None
    with transaction.atomic():
        assert free_capacity(operator_id=operator.pk, media="chat").load == 0
    assert Availability.objects.get(operator=operator, media="chat").load == 0
