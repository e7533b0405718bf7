"""The transfer state table, and the database constraints that back it whatever the caller."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.transfers.conftest import accepted, request_to
from transfers.models import TRANSITIONS, Transfer, TransferState, can_move

pytestmark = pytest.mark.django_db


# --- the table -----------------------------------------------------------------------------------


def test_transition_table_allows_only_the_designed_moves():
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        ("requested", "accepted"),
        ("requested", "declined"),
        ("requested", "expired"),
        ("requested", "cancelled"),
        ("accepted", "completed"),
        ("accepted", "cancelled"),
    }
    for a in TransferState.values:
        for b in TransferState.values:
            assert can_move(a, b) == ((a, b) in allowed)


def test_database_refuses_a_second_open_transfer(engagement, alice, bob, carol, frames):
    request_to(bob, engagement, alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(
            engagement=engagement,
            initiator=alice,
            target_operator=carol,
            accept_timeout_seconds=30,
            requested_at=timezone.now(),
        )


def test_database_refuses_an_accepted_transfer_without_a_hand_over_deadline(engagement, alice, bob, frames):
    transfer = accepted(engagement, alice, bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(pk=transfer.pk).update(hand_over_by=None)
