"""After-contact work time per operator and queue (reporting.metrics.wrap_up_metrics, docs/metrics.md)."""

from datetime import date, timedelta

import pytest

from helpdesk.models import WrapUp
from reporting.metrics import wrap_up_metrics
from reporting.scope import build_scope
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, WrapUpFactory
from tests.reporting.conftest import DAY1, DAY2, at

pytestmark = pytest.mark.django_db


def wrap_up(queue, operator, start, seconds=None, because=WrapUp.End.DONE):
    ended = start + timedelta(seconds=seconds) if seconds is not None else None
    return WrapUpFactory(
        ownership__engagement__queue=queue,
        ownership__operator=operator,
        ownership__started_at=start - timedelta(minutes=5),
        ownership__ended_at=start,
        started_at=start,
        ended_at=ended,
        ended_because=because if ended else "",
    )


def test_wrap_up_time_per_operator_and_queue_within_the_range_and_scope():
    site = SiteFactory(name="Lyon", time_zone="UTC")
    billing, general = QueueFactory(site=site, name="Billing"), QueueFactory(site=site, name="General")
    alice, bob = OperatorFactory(site=site, display_name="Alice"), OperatorFactory(site=site, display_name="Bob")
    wrap_up(billing, alice, at(DAY1, 9), 30)
    wrap_up(billing, alice, at(DAY1, 10), 90, because=WrapUp.End.TIMED_OUT)
    wrap_up(general, alice, at(DAY1, 11), 15)
    wrap_up(general, bob, at(DAY1, 12), 20, because=WrapUp.End.SKIPPED)
    wrap_up(general, bob, at(DAY2, 9), 40)  # the next day: outside the range
    wrap_up(QueueFactory(), OperatorFactory(), at(DAY1, 9), 50)  # another site
    rows = wrap_up_metrics(scope=build_scope(sites=[site], start_date=date(2026, 3, 2), end_date=date(2026, 3, 2)))
    assert [
        (r["operator"], r["queue"], r["wrap_ups"], r["seconds"], r["average_seconds"], r["timed_out"]) for r in rows
    ] == [
        ("Alice", "Billing", 2, 120.0, 60.0, 1),
        ("Alice", "General", 1, 15.0, 15.0, 0),
        ("Bob", "General", 1, 20.0, 20.0, 0),
    ]
    narrowed = build_scope(sites=[site], start_date=date(2026, 3, 2), end_date=date(2026, 3, 2), queue_ids=[general.pk])
    assert {(r["operator"], r["queue"]) for r in wrap_up_metrics(scope=narrowed)} == {
        ("Alice", "General"),
        ("Bob", "General"),
    }
