"""Offline messages are not live contacts: the engagement figures leave them out."""

import pytest

from helpdesk.models import Engagement
from reporting import metrics
from tests.reporting.conftest import DAY1, at, make_engagement


def test_an_offline_message_answered_next_morning_bends_no_figure(world):
    message = make_engagement(world.q1, at(DAY1, 2), answered=8 * 3600, ended=8 * 3600 + 60)
    Engagement.objects.filter(pk=message.pk).update(kind=Engagement.Kind.OFFLINE_MESSAGE)
    total = metrics.engagement_metrics(scope=world.scope(), by="total")[0]
    assert (total["offered"], total["answered"]) == (6, 4)  # e1..e6 only, as in test_metrics.py
    assert total["asa"] == pytest.approx(25)
    assert total["avg_wait"] == pytest.approx(30)
