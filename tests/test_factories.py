"""Every product model has a factory in tests/factories.py that builds a row its constraints accept.

A new model without a factory fails here, so the suite keeps building rows in one place.
"""

import inspect

import factory
import pytest
from django.apps import apps
from django.db import models

from helpdesk.models import Site
from telephony.models import Leg
from tests import factories
from transfers.models import TransferState

pytestmark = pytest.mark.django_db

PRODUCT_APPS = ("helpdesk", "transfers", "telephony", "supervision")
PRODUCT_MODELS = [model for label in PRODUCT_APPS for model in apps.get_app_config(label).get_models()]
FACTORY_OF = {
    candidate._meta.model: candidate
    for _, candidate in inspect.getmembers(factories, inspect.isclass)
    if issubclass(candidate, factory.django.DjangoModelFactory) and candidate._meta.model is not None
}


def sites_reached(row, seen=None) -> set[int]:
    """The ids of every site the row leads to through its foreign keys (the row itself if it is one)."""
    seen = set() if seen is None else seen
    if row is None or (type(row), row.pk) in seen:
        return set()
    seen.add((type(row), row.pk))
    if isinstance(row, Site):
        return {row.pk}
    found = set()
    for field in row._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            found |= sites_reached(getattr(row, field.name), seen)
    return found


@pytest.mark.parametrize("model", PRODUCT_MODELS, ids=lambda model: model._meta.label)
def test_every_product_model_has_a_factory_that_builds_a_valid_row_on_one_site(model):
    assert model in FACTORY_OF, f"tests/factories.py has no factory for {model._meta.label}"
    row = FACTORY_OF[model]()
    row.refresh_from_db()
    row.full_clean()  # fields, choices and every constraint, as Django checks them
    assert len(sites_reached(row)) <= 1, "the rows it made belong to more than one site"


@pytest.mark.parametrize("state", TransferState.values)
def test_transfer_factory_builds_every_state_with_its_offer(state):
    offer = factories.TransferOfferFactory(transfer=factories.TransferFactory(state=state))
    transfer = offer.transfer
    assert transfer.is_open == (state in ("requested", "accepted"))
    assert transfer.initiator == transfer.engagement.owner
    assert offer.operator == transfer.target_operator
    assert (offer.answered_at is None) == (state == "requested")
    offer.full_clean()
    transfer.full_clean()


def test_queue_transfer_factory_waits_in_the_queue_unless_offered():
    queue = factories.QueueFactory()
    waiting = factories.TransferFactory(engagement__queue__site=queue.site, target_operator=None, target_queue=queue)
    assert (waiting.offered_to, waiting.expires_at, waiting.target_name) == (None, None, queue.name)


@pytest.mark.parametrize("kind", Leg.Kind.values)
@pytest.mark.parametrize("state", Leg.State.values)
def test_leg_factory_builds_every_kind_in_every_state(kind, state):
    call = factories.CallFactory()
    leg = factories.LegFactory(call=call, kind=kind, state=state)
    leg.full_clean()
    assert leg.is_open == (state != "ended")
    assert leg.party_name


def test_engagement_factory_states_and_back_dating():
    from datetime import UTC, datetime

    created = datetime(2026, 3, 2, 10, tzinfo=UTC)
    ended = factories.EngagementFactory(state="ended", queued_at=created, created_at=created)
    ended.refresh_from_db()
    assert ended.created_at == created and ended.owner.site == ended.site
    assert ended.queued_at < ended.answered_at < ended.ended_at


def test_messages_take_the_next_seq_of_their_engagement():
    engagement = factories.EngagementFactory(state="active")
    lines = [factories.MessageFactory(engagement=engagement, sender=s) for s in ("visitor", "operator", "supervisor")]
    assert [line.seq for line in lines] == [1, 2, 3]
    engagement.refresh_from_db()
    assert engagement.last_seq == 3
    assert lines[1].operator.site == engagement.site and lines[2].supervisor is not None


def test_availability_factory_sets_the_operators_row_on_that_media():
    operator = factories.OperatorFactory()
    row = factories.AvailabilityFactory(operator=operator, media="voice", status="busy")
    assert operator.availabilities.count() == 3
    assert (row.status, row.capacity) == ("busy", 1)
