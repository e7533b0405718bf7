"""Issue 14.6's figures against a hand-computed day (reporting/operations.py, docs/metrics.md).

One site in New York (UTC-5 in December), queues A (service level 20 s) and B; on 1 December:

  E1  A  09:05:00 answered after 10 s, ended 09:15  Alice → Bob (no reason) → queue B (reason
         "Billing question"; Dave declined, Carol took it): two transfers, one engagement
  E2  A  09:20:00 abandoned after 60 s
  E3  A  09:40:00 answered after 30 s (outside the 20 s level), ended 09:50, Alice
  E4  B  10:10:00 answered after 5 s, Dave (still open)

Wrap-ups: Alice E1 (queue A, 30 s, no code), Alice E3 (A, 60 s, timed out, "resolved"), Carol E1
(B, 45 s, "fixed"), Dave E4 (B, open).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.models import Engagement, Ownership
from helpdesk.models.wrapup import DispositionCode, WrapUp
from reporting import operations
from reporting.exports import DATASETS
from reporting.scope import build_scope
from tests.factories import (
    DispositionCodeFactory,
    EngagementFactory,
    ManagerFactory,
    OperatorFactory,
    OwnershipFactory,
    QueueFactory,
    SiteFactory,
    TransferFactory,
    TransferOfferFactory,
    WrapUpFactory,
)
from transfers.models import OfferOutcome, TransferState

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 1, hour, minute, second, tzinfo=NY)


@pytest.fixture
def day():
    site = SiteFactory(name="NYC", time_zone="America/New_York")
    queue_a = QueueFactory(site=site, name="A", service_level_seconds=20)
    queue_b = QueueFactory(site=site, name="B", service_level_seconds=20)
    alice, bob, carol, dave = (OperatorFactory(site=site, display_name=n) for n in ("Alice", "Bob", "Carol", "Dave"))

    def engagement(queue, created, *, answer_after=None, ended=None, owner=None):
        state = Engagement.State.ENDED if ended else Engagement.State.ACTIVE if answer_after is not None else "queued"
        return EngagementFactory(
            queue=queue, state=state, owner=owner, queued_at=created, created_at=created,
            answered_at=created + timedelta(seconds=answer_after) if answer_after is not None else None,
            ended_at=ended, end_reason="visitor_left" if ended else "",
        )  # fmt: skip

    e1 = engagement(queue_a, at(9, 5), answer_after=10, ended=at(9, 15), owner=carol)
    engagement(queue_a, at(9, 20), ended=at(9, 21))
    e3 = engagement(queue_a, at(9, 40), answer_after=30, ended=at(9, 50), owner=alice)
    e4 = engagement(queue_b, at(10, 10), answer_after=5, owner=dave)
    transferred = Ownership.Start.TRANSFERRED
    stretches = {
        "alice_e1": OwnershipFactory(engagement=e1, operator=alice, started_at=at(9, 5, 10), ended_at=at(9, 10),
                                     ended_because=Ownership.End.TRANSFERRED),
        "bob_e1": OwnershipFactory(engagement=e1, operator=bob, started_at=at(9, 10), started_because=transferred,
                                   ended_at=at(9, 12), ended_because=Ownership.End.TRANSFERRED),
        "carol_e1": OwnershipFactory(engagement=e1, operator=carol, started_at=at(9, 12), started_because=transferred,
                                     ended_at=at(9, 15)),
        "alice_e3": OwnershipFactory(engagement=e3, operator=alice, started_at=at(9, 40, 30), ended_at=at(9, 50)),
        "dave_e4": OwnershipFactory(engagement=e4, operator=dave, started_at=at(10, 10, 5)),
    }  # fmt: skip
    billing = DispositionCodeFactory(queue=queue_a, kind=DispositionCode.Kind.TRANSFER, name="Billing question")
    TransferFactory(
        engagement=e1, initiator=alice, target_operator=bob, state=TransferState.COMPLETED, requested_at=at(9, 8)
    )
    to_b = TransferFactory(
        engagement=e1, initiator=bob, target_operator=None, target_queue=queue_b, offered_to=carol,
        state=TransferState.COMPLETED, requested_at=at(9, 11), reason=billing,
    )  # fmt: skip
    TransferOfferFactory(transfer=to_b, operator=dave, outcome=OfferOutcome.DECLINED)
    resolved = DispositionCodeFactory(queue=queue_a, code="resolved", name="Resolved")
    fixed = DispositionCodeFactory(queue=queue_b, code="fixed", name="Fixed")

    def wrap_up(stretch, queue, seconds=None, **fields):
        ownership = stretches[stretch]
        ended = ownership.ended_at + timedelta(seconds=seconds) if seconds is not None else None
        return WrapUpFactory(ownership=ownership, queue=queue, started_at=ownership.ended_at or at(10, 20),
                             ended_at=ended, **fields)  # fmt: skip

    wrap_up("alice_e1", queue_a, 30)
    wrap_up("alice_e3", queue_a, 60, mode=WrapUp.Mode.TIMED, deadline=at(9, 51), ended_because="timed_out",
            disposition=resolved)  # fmt: skip
    wrap_up("carol_e1", queue_b, 45, disposition=fixed)
    wrap_up("dave_e4", queue_b)
    scope = build_scope(sites=[site], start_date=date(2026, 12, 1), end_date=date(2026, 12, 1))
    return scope, site


def figures(rows, *keys):
    return [tuple(row[key] for key in ("label", *keys)) for row in rows]


def test_interval_tables_count_each_engagement_once_in_the_sites_time(day):
    scope, _ = day
    keys = ("offered", "answered", "abandoned", "within_sl", "service_level")
    assert figures(operations.interval_metrics(scope=scope, minutes=15), *keys) == [
        ("2026-12-01 09:00–09:15", 1, 1, 0, 1, 1.0),  # E1: three owners, two transfers, answered once
        ("2026-12-01 09:15–09:30", 1, 0, 1, 0, 0.0),
        ("2026-12-01 09:30–09:45", 1, 1, 0, 0, 0.0),
        ("2026-12-01 10:00–10:15", 1, 1, 0, 1, 1.0),
    ]
    hourly = operations.interval_metrics(scope=scope, minutes=60)
    assert figures(hourly, *keys, "asa", "transferred") == [
        ("2026-12-01 09:00–10:00", 3, 2, 1, 1, 1 / 3, 20.0, 1),
        ("2026-12-01 10:00–11:00", 1, 1, 0, 1, 1.0, 5.0, 0),
    ]
    assert hourly[0]["key"] == "2026-12-01T09:00:00-05:00"
    assert [r["label"][-11:] for r in operations.interval_metrics(scope=scope, minutes=30)] == [
        "09:00–09:30", "09:30–10:00", "10:00–10:30",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        operations.interval_metrics(scope=scope, minutes=20)


def test_transfer_flow_per_operator_and_per_queue(day):
    scope, _ = day
    assert figures(operations.transfer_flow(scope=scope, by="operator"), "out", "in", "declined", "handled",
                   "transfer_rate") == [
        ("Alice", 1, 0, 0, 2, 0.5),
        ("Bob", 1, 1, 0, 1, 1.0),
        ("Carol", 0, 1, 0, 1, 0.0),
        ("Dave", 0, 0, 1, 1, 0.0),
    ]  # fmt: skip
    assert figures(operations.transfer_flow(scope=scope, by="queue"), "out", "in", "answered", "transferred",
                   "transfer_rate") == [
        ("A (NYC)", 2, 0, 2, 1, 0.5),  # two transfers of one engagement: one engagement transferred
        ("B (NYC)", 0, 1, 1, 0, 0.0),
    ]  # fmt: skip
    assert figures(operations.transfer_reasons(scope=scope), "requested", "completed") == [
        ("Billing question", 1, 1),
        ("(no reason given)", 1, 1),
    ]


def test_after_contact_work_and_dispositions(day):
    scope, _ = day
    keys = ("wrap_ups", "open", "timed_out", "acw_seconds", "avg_acw")
    assert figures(operations.wrap_up_metrics(scope=scope, by="operator"), *keys) == [
        ("Alice", 2, 0, 1, 90.0, 45.0),
        ("Carol", 1, 0, 0, 45.0, 45.0),
        ("Dave", 1, 1, 0, 0.0, None),  # still wrapping up: counted, no length yet
    ]
    assert figures(operations.wrap_up_metrics(scope=scope, by="queue"), *keys) == [
        ("A (NYC)", 2, 0, 1, 90.0, 45.0),
        ("B (NYC)", 2, 1, 0, 45.0, 45.0),
    ]
    assert [(r["queue"], r["label"], r["count"], r["share"]) for r in operations.disposition_metrics(scope=scope)] == [
        ("A (NYC)", "(none)", 1, 0.5),
        ("A (NYC)", "Resolved", 1, 0.5),
        ("B (NYC)", "Fixed", 1, 1.0),
    ]


def test_the_page_the_exports_and_the_api_show_the_same_figures(day, client):
    scope, site = day
    client.force_login(ManagerFactory(sites=[site]))
    page = client.get("/reports/", {"start": "2026-12-01", "end": "2026-12-01", "interval": "15"})
    assert page.status_code == 200
    assert page.context["intervals"] == operations.interval_metrics(scope=scope, minutes=15)
    html = page.content.decode()
    assert "2026-12-01 09:15–09:30" in html and "Billing question" in html and 'id="chart-dispositions"' in html
    export = b"".join(client.get("/reports/export/metrics_intervals_15.csv?start=2026-12-01&end=2026-12-01"))
    lines = export.decode().splitlines()
    assert lines[0].startswith("interval_start,offered,answered,abandoned")
    assert lines[1].startswith("2026-12-01T09:00:00-05:00,1,1,0")
    assert {"metrics_transfer_flow_by_queue", "metrics_wrap_up_by_operator", "metrics_dispositions"} <= set(DATASETS)
    api = client.get("/api/metrics/operations/", {"start": "2026-12-01", "end": "2026-12-01", "interval": 60}).json()
    assert [(r["label"], r["offered"], r["answered"]) for r in api["intervals"]] == [
        ("2026-12-01 09:00–10:00", 3, 2), ("2026-12-01 10:00–11:00", 1, 1),
    ]  # fmt: skip
    assert [(r["label"], r["transfers_in"]) for r in api["transfer_flow_by_queue"]] == [("A (NYC)", 0), ("B (NYC)", 1)]
    assert api["dispositions"][0] == {"queue": "A (NYC)", "label": "(none)", "code": "", "count": 1, "share": 0.5}
    assert client.get("/api/metrics/operations/", {"interval": 20}).status_code == 400


def test_operators_get_no_operations_figures(client):
    operator = OperatorFactory()
    client.force_login(operator.user)
    assert client.get("/api/metrics/operations/").status_code == 403
