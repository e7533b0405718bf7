"""Each metric on the hand-made data of conftest.py; the arithmetic is written next to each answer."""

from datetime import date

import pytest

from reporting import metrics


def by_label(rows):
    return {row["label"]: row for row in rows}


def test_totals_over_the_range(world):
    total = metrics.engagement_metrics(scope=world.scope(), by="total")[0]
    assert total["offered"] == 6  # e1..e6
    assert total["answered"] == 4  # e1 e2 e4 e6
    assert total["abandoned"] == 1  # e3 ended before an answer
    assert total["waiting"] == 1  # e5
    assert total["abandonment_rate"] == pytest.approx(1 / 6)
    # waits of those that stopped waiting: e1 10, e2 30, e3 50, e4 40, e6 20 -> 150 / 5
    assert total["avg_wait"] == pytest.approx(30)
    # p90 (continuous) of [10, 20, 30, 40, 50]: rank 0.9 * 4 = 3.6 -> 40 + 0.6 * (50 - 40) = 46
    assert total["p90_wait"] == pytest.approx(46)
    # speed of answer: (10 + 30 + 40 + 20) / 4
    assert total["asa"] == pytest.approx(25)
    # within threshold: e1 10<=20, e4 40<=60, e6 20<=20 (e2 30>20) -> 3 / (4 answered + 1 abandoned)
    assert total["within_sl"] == 3
    assert total["service_level"] == pytest.approx(0.6)
    # handle = ended - answered: 300, 200, 100, 600 -> 1200 / 4
    assert total["aht"] == pytest.approx(300)
    # e2 changed hands by transfer: 1 of 4 answered
    assert total["transferred"] == 1
    assert total["transfer_rate"] == pytest.approx(0.25)


def test_by_day_has_every_day_of_the_range(world):
    days = by_label(metrics.engagement_metrics(scope=world.scope(), by="day"))
    assert list(days) == ["2026-03-02", "2026-03-03"]
    day1, day2 = days["2026-03-02"], days["2026-03-03"]
    assert (day1["offered"], day1["answered"], day1["abandoned"], day1["waiting"]) == (5, 3, 1, 1)
    assert day1["avg_wait"] == pytest.approx((10 + 30 + 50 + 40) / 4)  # 32.5
    assert day1["asa"] == pytest.approx((10 + 30 + 40) / 3)
    assert day1["service_level"] == pytest.approx(2 / 4)  # e1, e4 within; 3 answered + 1 abandoned
    assert day1["aht"] == pytest.approx((300 + 200 + 100) / 3)
    assert (day2["offered"], day2["answered"], day2["service_level"], day2["aht"]) == (1, 1, 1.0, 600)


def test_an_empty_day_still_gets_a_row(world):
    days = metrics.engagement_metrics(scope=world.scope(end_date=date(2026, 3, 4)), by="day")
    assert [d["label"] for d in days][-1] == "2026-03-04"
    assert days[-1]["offered"] == 0 and days[-1]["service_level"] is None


def test_by_queue_uses_each_queues_own_threshold(world):
    queues = by_label(metrics.engagement_metrics(scope=world.scope(), by="queue"))
    q1, q2 = queues["Q1 (Lyon)"], queues["Q2 (Lyon)"]
    assert (q1["offered"], q1["answered"], q1["abandoned"]) == (4, 3, 1)  # e1 e2 e3 e6
    assert q1["abandonment_rate"] == pytest.approx(0.25)
    assert q1["avg_wait"] == pytest.approx((10 + 30 + 50 + 20) / 4)  # 27.5
    assert q1["service_level"] == pytest.approx(2 / 4)  # 20 s threshold: e1 (10), e6 (20)
    assert q1["aht"] == pytest.approx((300 + 200 + 600) / 3)
    assert (q2["offered"], q2["answered"], q2["waiting"]) == (2, 1, 1)  # e4, e5
    assert q2["service_level"] == pytest.approx(1.0)  # 60 s threshold: e4 answered in 40
    assert q2["asa"] == pytest.approx(40)


def test_by_site(world):
    sites = by_label(metrics.engagement_metrics(scope=world.scope(), by="site"))
    assert list(sites) == ["Lyon"] and sites["Lyon"]["offered"] == 6


def test_by_team_counts_the_queues_it_serves(world):
    teams = by_label(metrics.engagement_metrics(scope=world.scope(), by="team"))
    assert teams["T1 (Lyon)"]["offered"] == 4  # Q1 only
    assert teams["T2 (Lyon)"]["offered"] == 6  # Q1 and Q2


def test_by_operator_is_by_who_answered(world):
    operators = by_label(metrics.engagement_metrics(scope=world.scope(), by="operator"))
    assert operators["Alice"]["answered"] == 3  # e1 e2 e6 (e2 later transferred to Bob)
    assert operators["Alice"]["asa"] == pytest.approx((10 + 30 + 20) / 3)
    assert operators["Bob"]["answered"] == 1  # e4
    assert operators["Alice"]["transferred"] == 1  # e2


def test_queue_filter_narrows_everything(world):
    total = metrics.engagement_metrics(scope=world.scope(queue_ids=[world.q2.pk]), by="total")[0]
    assert (total["offered"], total["answered"]) == (2, 1)


def test_operator_filter_keeps_engagements_they_held(world):
    total = metrics.engagement_metrics(scope=world.scope(operator_ids=[world.op2.pk]), by="total")[0]
    assert total["offered"] == 2  # e2 (taken over by transfer) and e4


def test_operator_figures(world):
    rows = by_label(metrics.operator_metrics(scope=world.scope()))
    alice, bob = rows["Alice"], rows["Bob"]
    # Alice's stretches: e1 300 s, e2 70 s (30..100, handed on), e6 600 s
    assert alice["handled"] == 3
    assert alice["aht"] == pytest.approx((300 + 70 + 600) / 3)
    assert (alice["transferred_in"], alice["transferred_out"]) == (0, 1)
    # Bob's: e2 130 s (100..230, taken over), e4 100 s
    assert bob["handled"] == 2
    assert bob["aht"] == pytest.approx((130 + 100) / 2)
    assert (bob["transferred_in"], bob["transferred_out"]) == (1, 0)


def test_availability_time_is_clipped_to_the_range(world):
    rows = {(r["operator"], r["status"]): r["seconds"] for r in metrics.availability_metrics(scope=world.scope())}
    assert rows[("Alice", "available")] == pytest.approx(10 * 3600)  # 03-01 22:00..03-02 10:00 clipped at 00:00
    assert rows[("Alice", "busy")] == pytest.approx(2 * 3600)  # 10:00..12:00
    assert rows[("Alice", "away")] == pytest.approx(30 * 60)  # 12:00..12:30
    assert rows[("Alice", "offline")] == pytest.approx(11.5 * 3600 + 24 * 3600)  # 12:30..03-04 00:00 (range end)
    alice = by_label(metrics.operator_metrics(scope=world.scope()))["Alice"]
    assert alice["busy_seconds"] == pytest.approx(7200)


def test_days_follow_the_site_time_zone(world):
    """In Tokyo (UTC+9), e6 created 03-03 09:00 UTC is 03-03 18:00 local; e1..e5 stay on 03-02 local."""
    world.site.time_zone = "Asia/Tokyo"
    world.site.save()
    days = by_label(metrics.engagement_metrics(scope=world.scope(), by="day"))
    assert days["2026-03-02"]["offered"] == 5 and days["2026-03-03"]["offered"] == 1
