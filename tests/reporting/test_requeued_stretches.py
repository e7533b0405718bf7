"""Operator figures leave out calls that went back to the queue unanswered (Ownership.End.REQUEUED)."""

from datetime import timedelta

import pytest

from helpdesk.models import Media, Ownership
from reporting import metrics
from tests.factories import OwnershipFactory, QueueFactory
from tests.reporting.conftest import DAY1, at, make_engagement


def by_label(rows):
    return {row["label"]: row for row in rows}


def test_requeued_stretches_are_not_handled(world):
    """On top of the shared data (Alice 3 handled, AHT 323.3 s; Bob 2, AHT 115 s, 1 taken over):

    c1 (voice, 03-02 14:00): offered to Bob, declined after 20 s (requeued), then Alice 25..125 s.
    c2 (voice, 03-02 15:00): Alice cold-transfers to Bob at 60 s, Bob never answers (requeued at 90 s;
        the call then ends, say the caller hung up while waiting).

    Alice: + c1 (100 s) + c2 (60 s, handed on) -> 5 handled, AHT (300+70+600+100+60)/5 = 226 s, 2 out.
    Bob: unchanged -> 2 handled, AHT 115 s, transferred in 1 (c2's unanswered stretch is not counted).
    """
    R, T, E = Ownership.Start.ROUTED, Ownership.Start.TRANSFERRED, Ownership.End
    voice = QueueFactory(site=world.site, name="Phones", media=Media.VOICE)
    alice, bob = world.op1, world.op2
    c1 = make_engagement(voice, at(DAY1, 14), answered=25, ended=125)
    c2 = make_engagement(voice, at(DAY1, 15), answered=5, ended=90)
    # bulk_create: no post_save, so telephony's receivers do not ring legs for these hand-made stretches.
    Ownership.objects.bulk_create(
        OwnershipFactory.build(
            engagement=engagement,
            operator=operator,
            started_at=engagement.created_at + timedelta(seconds=start),
            ended_at=engagement.created_at + timedelta(seconds=stop),
            started_because=why_start,
            ended_because=why_end,
        )
        for engagement, operator, start, stop, why_start, why_end in [
            (c1, bob, 0, 20, R, E.REQUEUED),
            (c1, alice, 25, 125, R, E.ENDED),
            (c2, alice, 0, 60, R, E.TRANSFERRED),
            (c2, bob, 60, 90, T, E.REQUEUED),
        ]
    )
    rows = by_label(metrics.operator_metrics(scope=world.scope()))
    assert rows["Alice"]["handled"] == 5
    assert rows["Alice"]["aht"] == pytest.approx((300 + 70 + 600 + 100 + 60) / 5)
    assert rows["Alice"]["transferred_out"] == 2
    assert (rows["Bob"]["handled"], rows["Bob"]["transferred_in"]) == (2, 1)
    assert rows["Bob"]["aht"] == pytest.approx(115)
