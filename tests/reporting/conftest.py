"""Contact-centre data built with the factories at known timestamps, shared by the metric and export tests.

Two days, 2026-03-02 and 2026-03-03 (UTC site). Queue Q1 has a 20 s service level, Q2 60 s.

| eng | queue | created        | answered | ended   | owners                                  |
|-----|-------|----------------|----------|---------|-----------------------------------------|
| e1  | Q1    | 03-02 10:00:00 | +10 s    | +310 s  | op1                                     |
| e2  | Q1    | 03-02 10:05:00 | +30 s    | +230 s  | op1 (+30..+100, transferred) then op2   |
| e3  | Q1    | 03-02 11:00:00 | —        | +50 s   | — (abandoned)                           |
| e4  | Q2    | 03-02 12:00:00 | +40 s    | +140 s  | op2                                     |
| e5  | Q2    | 03-02 12:30:00 | —        | —       | — (still waiting)                       |
| e6  | Q1    | 03-03 09:00:00 | +20 s    | +620 s  | op1                                     |

Team T1 serves Q1; team T2 serves Q1 and Q2. op1 is in T1, op2 in T2.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from helpdesk.models import Engagement, Ownership
from reporting.scope import build_scope
from tests.factories import (
    AvailabilityLogFactory,
    EngagementFactory,
    ManagerFactory,
    OperatorFactory,
    OwnershipFactory,
    QueueFactory,
    SiteFactory,
    TeamFactory,
)

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, tzinfo=UTC)


def at(day, hh, mm=0, ss=0):
    return day + timedelta(hours=hh, minutes=mm, seconds=ss)


def make_engagement(queue, created, *, answered=None, ended=None, owners=(), visitor_name="Ann"):
    """An engagement with exact timestamps; owners = [(operator, start_offset, end_offset, start_why, end_why)]."""
    state = (
        Engagement.State.ENDED
        if ended is not None
        else (Engagement.State.ACTIVE if answered is not None else Engagement.State.QUEUED)
    )
    last_owner = owners[-1][0] if owners else None
    engagement = EngagementFactory(
        queue=queue,
        visitor__name=visitor_name,
        created_at=created,
        queued_at=created,
        state=state,
        owner=last_owner if state != Engagement.State.QUEUED else None,
        answered_at=created + timedelta(seconds=answered) if answered is not None else None,
        ended_at=created + timedelta(seconds=ended) if ended is not None else None,
        end_reason=(Engagement.EndReason.ABANDONED if answered is None else Engagement.EndReason.VISITOR_LEFT)
        if ended is not None
        else "",
    )
    for operator, start, stop, why_start, why_end in owners:
        OwnershipFactory(
            engagement=engagement,
            operator=operator,
            started_at=created + timedelta(seconds=start),
            ended_at=created + timedelta(seconds=stop) if stop is not None else None,
            started_because=why_start,
            ended_because=why_end,
        )
    engagement.refresh_from_db()
    return engagement


@dataclass
class World:
    site: object
    other_site: object
    q1: object
    q2: object
    t1: object
    t2: object
    op1: object
    op2: object
    manager: object
    engagements: dict

    def scope(self, **filters):
        filters.setdefault("start_date", date(2026, 3, 2))
        filters.setdefault("end_date", date(2026, 3, 3))
        return build_scope(sites=[self.site], **filters)


@pytest.fixture
def world(db):
    R, T, E = Ownership.Start.ROUTED, Ownership.Start.TRANSFERRED, Ownership.End
    site = SiteFactory(name="Lyon", time_zone="UTC")
    other_site = SiteFactory(name="Other")
    t1, t2 = TeamFactory(site=site, name="T1"), TeamFactory(site=site, name="T2")
    q1 = QueueFactory(site=site, name="Q1", service_level_seconds=20, teams=[t1, t2])
    q2 = QueueFactory(site=site, name="Q2", service_level_seconds=60, teams=[t2])
    op1 = OperatorFactory(site=site, display_name="Alice", teams=[t1])
    op2 = OperatorFactory(site=site, display_name="Bob", teams=[t2])
    engagements = {
        "e1": make_engagement(q1, at(DAY1, 10), answered=10, ended=310, owners=[(op1, 10, 310, R, E.ENDED)]),
        "e2": make_engagement(
            q1,
            at(DAY1, 10, 5),
            answered=30,
            ended=230,
            owners=[(op1, 30, 100, R, E.TRANSFERRED), (op2, 100, 230, T, E.ENDED)],
        ),
        "e3": make_engagement(q1, at(DAY1, 11), ended=50),
        "e4": make_engagement(q2, at(DAY1, 12), answered=40, ended=140, owners=[(op2, 40, 140, R, E.ENDED)]),
        "e5": make_engagement(q2, at(DAY1, 12, 30)),
        "e6": make_engagement(q1, at(DAY2, 9), answered=20, ended=620, owners=[(op1, 20, 620, R, E.ENDED)]),
    }
    log = [
        ("available", at(DAY1, -2), at(DAY1, 10)),
        ("busy", at(DAY1, 10), at(DAY1, 12)),
        ("away", at(DAY1, 12), at(DAY1, 12, 30)),
        ("offline", at(DAY1, 12, 30), at(DAY2, 29)),
    ]
    for status, start, stop in log:
        AvailabilityLogFactory(operator=op1, media="chat", status=status, started_at=start, ended_at=stop)
    manager = ManagerFactory(username="manager_a", sites=[site])
    return World(site, other_site, q1, q2, t1, t2, op1, op2, manager, engagements)
