"""Transfer and call figures on rows built with the factories (times relative to the engagement's creation)."""

from datetime import timedelta

import pytest

from helpdesk.models import Media, Ownership
from reporting import metrics
from telephony.models import Call, Leg
from tests.factories import (
    CallFactory,
    LegFactory,
    OperatorFactory,
    QueueFactory,
    TransferFactory,
    TransferOfferFactory,
)
from tests.reporting.conftest import DAY1, at, make_engagement
from transfers.models import Transfer


def make_transfer(engagement, initiator, *, state, requested, answered=None, target=None, queue=None, **fields):
    """A transfer in `state`, requested (and answered) that many seconds after the engagement began."""
    created = engagement.created_at
    return TransferFactory(
        engagement=engagement,
        initiator=initiator,
        target_operator=target if queue is None else None,
        target_queue=queue,
        state=state,
        accept_timeout_seconds=30,
        requested_at=created + timedelta(seconds=requested),
        answered_at=created + timedelta(seconds=answered) if answered is not None else None,
        ended_at=created + timedelta(seconds=(answered or requested) + 1)
        if state not in ("requested", "accepted")
        else None,
        **fields,
    )


def offer(transfer, operator, outcome, reason_text=""):
    return TransferOfferFactory(transfer=transfer, operator=operator, outcome=outcome, reason_text=reason_text)


@pytest.fixture
def transfers(world):
    """On e1 (created 03-02 10:00): five transfers from Alice.

    t1 to Bob: completed, accepted 8 s after the request      -> time to accept 8
    t2 to Bob: declined "Too busy"
    t3 to queue Q2: Bob declined "too   busy", Carol declined "" then Dan accepted after 20 s (accepted, open)
    t4 to Bob: expired
    t5 to Bob: cancelled by Alice
    """
    e1 = world.engagements["e1"]
    alice, bob = world.op1, world.op2
    carol = OperatorFactory(site=world.site, display_name="Carol")
    dan = OperatorFactory(site=world.site, display_name="Dan")
    t1 = make_transfer(e1, alice, state="completed", requested=20, answered=28, target=bob)
    offer(t1, bob, "accepted")
    t2 = make_transfer(e1, alice, state="declined", requested=40, answered=45, target=bob, reason_text="Too busy")
    offer(t2, bob, "declined", "Too busy")
    t3 = make_transfer(
        e1,
        alice,
        state="accepted",
        requested=60,
        answered=80,
        queue=world.q2,
        offered_to=dan,
    )
    offer(t3, bob, "declined", "too   busy".replace("too", "Too"))
    offer(t3, carol, "declined", "")
    offer(t3, dan, "accepted")
    t4 = make_transfer(e1, alice, state="expired", requested=100, target=bob)
    offer(t4, bob, "expired")
    t5 = make_transfer(e1, alice, state="cancelled", requested=200, target=bob)
    offer(t5, bob, "withdrawn")
    return world


def test_transfer_outcomes(transfers):
    total = metrics.transfer_metrics(scope=transfers.scope(), by="total")[0]
    assert total["requested"] == 5
    assert total["accepted"] == 2  # t1 (then completed) and t3
    assert total["completed"] == 1
    assert (total["declined"], total["expired"], total["cancelled"], total["open"]) == (1, 1, 1, 1)
    assert total["accept_rate"] == pytest.approx(2 / 5)
    # time to accept: t1 28-20 = 8 s, t3 80-60 = 20 s -> 14 s
    assert total["avg_time_to_accept"] == pytest.approx(14)


def test_transfers_by_day_queue_and_initiator(transfers):
    assert [(r["label"], r["requested"]) for r in metrics.transfer_metrics(scope=transfers.scope(), by="day")] == [
        ("2026-03-02", 5)
    ]
    assert [(r["label"], r["requested"]) for r in metrics.transfer_metrics(scope=transfers.scope(), by="queue")] == [
        ("Q1 (Lyon)", 5)
    ]
    assert [r["label"] for r in metrics.transfer_metrics(scope=transfers.scope(), by="operator")] == ["Alice"]
    assert metrics.transfer_metrics(scope=transfers.scope(queue_ids=[transfers.q2.pk]), by="total")[0]["requested"] == 0


def test_decline_reasons_count_every_declined_offer(transfers):
    reasons = metrics.decline_reasons(scope=transfers.scope())
    # "Too busy" (t2) + "Too   busy" (t3, Bob; spaces folded) = 2; Carol gave no reason = 1
    assert reasons == [{"label": "Too busy", "declined": 2}, {"label": "(no reason given)", "declined": 1}]


@pytest.fixture
def calls(world):
    """Two calls on a voice queue on 03-02.

    c1: Alice answers, consults Bob (consult leg 30 s, then Bob takes the call: leg becomes his operator leg,
        ownership 'transferred'); then Bob consults an outside number that takes the call (phone leg, 12 s).
    c2: Bob answers, consults Carol who does not answer (consult leg 20 s, no_answer).
    """
    R, T, E = Ownership.Start.ROUTED, Ownership.Start.TRANSFERRED, Ownership.End
    voice = QueueFactory(site=world.site, name="Phones", media=Media.VOICE)
    carol = OperatorFactory(site=world.site, display_name="Carol")
    alice, bob = world.op1, world.op2
    c1e = make_engagement(
        voice,
        at(DAY1, 14),
        answered=5,
        ended=400,
        owners=[(alice, 5, 100, R, E.TRANSFERRED), (bob, 100, 400, T, E.ENDED)],
    )
    c2e = make_engagement(voice, at(DAY1, 15), answered=3, ended=200, owners=[(bob, 3, 200, R, E.ENDED)])
    # Telephony's receivers may already have made the calls (and rung legs) when the ownerships were written.
    c1, c2 = CallFactory(engagement=c1e), CallFactory(engagement=c2e)
    Leg.objects.filter(call__in=[c1, c2]).delete()

    def leg(call, kind, start, stop, reason, **fields):
        created = call.engagement.created_at
        return LegFactory(
            call=call,
            kind=kind,
            state="ended",
            end_reason=reason,
            initiated_at=created + timedelta(seconds=start),
            ended_at=created + timedelta(seconds=stop),
            **fields,
        )

    leg(c1, "customer", 0, 400, "hung_up")
    leg(c1, "operator", 0, 100, "transferred", operator=alice)
    leg(c1, "operator", 70, 400, "transferred", operator=bob)  # Bob's consult leg, promoted at 100
    leg(c1, "phone", 300, 312, "transferred", phone_number="+33612345678")
    leg(c2, "customer", 0, 200, "hung_up")
    leg(c2, "operator", 0, 200, "hung_up", operator=bob)
    leg(c2, "consult", 50, 70, "no_answer", operator=carol)
    world.voice = voice
    return world


def test_call_figures(calls):
    """consults = 3 (Bob's promoted leg + phone leg + Carol's leg); call transfers = 2 (to Bob, to the number);
    average consult time counts the legs still of consult kind that ended: (12 + 20) / 2 = 16 s."""
    total = metrics.call_metrics(scope=calls.scope(), by="total")[0]
    assert total["calls"] == 2
    assert total["consults"] == 3
    assert total["call_transfers"] == 2
    assert total["avg_consult"] == pytest.approx(16)
    by_queue = {r["label"]: r for r in metrics.call_metrics(scope=calls.scope(), by="queue")}
    assert by_queue["Phones (Lyon)"]["calls"] == 2


def figures(row, *names):
    return tuple(row[name] for name in names)


CALL_FIGURES = ("calls", "consults", "call_transfers", "avg_consult")


def test_calls_by_the_operator_who_answered_and_their_teams(calls):
    """By operator = the call's first owner, who gets the whole call's figures:

    Alice answered c1: 1 call; consults 2 (Bob's promoted leg + the phone leg); call transfers 2 (to Bob,
    out to the number); average consult = the phone leg alone, 12 s.
    Bob answered c2: 1 call; 1 consult (Carol's), no transfer; average consult 20 s.
    c3, abandoned (nobody answered), has no operator and no team: it counts only in the total.
    By team = the answering operator's teams: T1 (Alice) and T2 (Bob); once Alice joins T2 too, T2 has both.
    """
    c3e = make_engagement(calls.voice, at(DAY1, 16), ended=30)  # c3: the caller hung up while waiting
    CallFactory(engagement=c3e)
    assert metrics.call_metrics(scope=calls.scope(), by="total")[0]["calls"] == 3
    by_operator = metrics.call_metrics(scope=calls.scope(), by="operator")
    assert [(r["label"], *figures(r, *CALL_FIGURES)) for r in by_operator] == [
        ("Alice", 1, 2, 2, pytest.approx(12)),
        ("Bob", 1, 1, 0, pytest.approx(20)),
    ]
    assert [r["key"] for r in by_operator] == [calls.op1.pk, calls.op2.pk]
    by_team = metrics.call_metrics(scope=calls.scope(), by="team")
    assert [(r["label"], *figures(r, *CALL_FIGURES)) for r in by_team] == [
        ("T1 (Lyon)", 1, 2, 2, pytest.approx(12)),
        ("T2 (Lyon)", 1, 1, 0, pytest.approx(20)),
    ]
    calls.op1.teams.add(calls.t2)
    by_team = {r["label"]: figures(r, *CALL_FIGURES) for r in metrics.call_metrics(scope=calls.scope(), by="team")}
    assert by_team["T2 (Lyon)"] == (2, 3, 2, pytest.approx(16))  # both calls; consults (12 + 20) / 2
    # The team filter (engagements of the queues the team serves) also narrows the teams listed;
    # an operator filter keeps the calls they held.
    calls.voice.teams.set([calls.t1, calls.t2])
    assert [r["label"] for r in metrics.call_metrics(scope=calls.scope(team_ids=[calls.t1.pk]), by="team")] == [
        "T1 (Lyon)"
    ]
    only_bob = metrics.call_metrics(scope=calls.scope(operator_ids=[calls.op2.pk]), by="operator")
    assert [(r["label"], r["calls"]) for r in only_bob] == [("Alice", 1), ("Bob", 1)]  # Bob held c1 too


def test_transfers_by_the_initiators_team(transfers):
    """Alice (T1) initiated t1..t5; add t6 from Bob (T2) on e2, not answered.

    T1: requested 5, accepted 2, completed 1, declined 1, expired 1, cancelled 1, open 1, time to accept 14 s.
    T2: requested 1, expired 1, nothing accepted (no time to accept).
    Alice in T2 as well: T2 counts her five too (6), T1 still 5: the rows may add up to more than the total.
    """
    make_transfer(transfers.engagements["e2"], transfers.op2, state="expired", requested=50, target=transfers.op1)
    outcome = ("requested", "accepted", "completed", "declined", "expired", "cancelled", "open")
    rows = metrics.transfer_metrics(scope=transfers.scope(), by="team")
    assert [(r["key"], r["label"], *figures(r, *outcome)) for r in rows] == [
        (transfers.t1.pk, "T1 (Lyon)", 5, 2, 1, 1, 1, 1, 1),
        (transfers.t2.pk, "T2 (Lyon)", 1, 0, 0, 0, 1, 0, 0),
    ]
    assert rows[0]["avg_time_to_accept"] == pytest.approx(14) and rows[1]["avg_time_to_accept"] is None
    assert rows[0]["accept_rate"] == pytest.approx(2 / 5) and rows[1]["accept_rate"] == 0
    transfers.op1.teams.add(transfers.t2)
    rows = {r["label"]: r["requested"] for r in metrics.transfer_metrics(scope=transfers.scope(), by="team")}
    assert rows == {"T1 (Lyon)": 5, "T2 (Lyon)": 6}
    assert metrics.transfer_metrics(scope=transfers.scope(), by="total")[0]["requested"] == 6


def test_api_groups_transfers_and_calls_as_asked_never_falls_back_to_the_total(transfers, calls):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=transfers.manager)[0].key}")
    query = "/api/metrics/?start=2026-03-02&end=2026-03-03&by="
    body = client.get(query + "team").json()
    assert [(r["label"], r["requested"]) for r in body["transfers"]] == [("T1 (Lyon)", 5)]
    assert [(r["key"], r["label"], r["calls"], r["consults"]) for r in body["calls"]] == [
        (str(transfers.t1.pk), "T1 (Lyon)", 1, 2),
        (str(transfers.t2.pk), "T2 (Lyon)", 1, 1),
    ]
    body = client.get(query + "operator").json()
    assert [(r["label"], r["requested"]) for r in body["transfers"]] == [("Alice", 5)]
    assert [(r["label"], r["calls"], r["call_transfers"]) for r in body["calls"]] == [("Alice", 1, 2), ("Bob", 1, 0)]
    for by in ("day", "site", "queue", "team", "operator"):
        body = client.get(query + by).json()
        assert body["by"] == by
        for table in ("engagements", "transfers", "calls"):
            assert all(row["key"] != "total" for row in body[table]), (by, table)


def test_transfer_export_cell_by_cell_and_page_charts(transfers, client):
    import csv
    import io

    from django.urls import reverse

    client.force_login(transfers.manager)
    response = client.get(reverse("reporting:export", args=["transfers", "csv"]) + "?start=2026-03-02&end=2026-03-03")
    rows = list(csv.reader(io.StringIO(b"".join(response).decode())))
    t2 = Transfer.objects.get(state="declined")
    e1 = transfers.engagements["e1"]
    assert rows[0][:3] == ["id", "engagement", "initiator"]
    assert rows[2] == [
        str(t2.pk), str(e1.pk), "Alice", "Bob", "", "", "declined", "declined", "Too busy",
        "2026-03-02T10:00:40+00:00", "2026-03-02T10:00:45+00:00", "", "2026-03-02T10:00:46+00:00", "5",
    ]  # fmt: skip
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client.get(
                        reverse("reporting:export", args=["metrics_decline_reasons", "csv"])
                        + "?start=2026-03-02&end=2026-03-03"
                    )
                ).decode()
            )
        )
    )
    assert rows == [["reason", "declined"], ["Too busy", "2"], ["(no reason given)", "1"]]
    html = client.get(reverse("reporting:page") + "?start=2026-03-02&end=2026-03-03").content.decode()
    assert 'aria-label="Transfer outcomes"' in html and 'aria-label="Decline reasons"' in html
    assert "Too busy" in html


def test_leg_export_cell_by_cell(world, client):
    import csv
    import io

    from django.urls import reverse

    voice = QueueFactory(site=world.site, name="Phones", media=Media.VOICE)
    engagement = make_engagement(voice, at(DAY1, 14), visitor_name="=Caller")
    call = CallFactory(engagement=engagement)
    Leg.objects.filter(call=call).delete()
    leg = LegFactory(
        call=call,
        kind="phone",
        phone_number="+33612345678",
        state="ended",
        end_reason="no_answer",
        initiated_at=at(DAY1, 14),
        ringing_at=at(DAY1, 14, 0, 1),
        ended_at=at(DAY1, 14, 0, 31),
    )
    client.force_login(world.manager)
    query = "?start=2026-03-02&end=2026-03-03"
    rows = list(
        csv.reader(
            io.StringIO(b"".join(client.get(reverse("reporting:export", args=["legs", "csv"]) + query)).decode())
        )
    )
    assert rows[1] == [
        str(leg.pk), str(call.pk), "phone", "", "", "'+33612345678", "ended", "no_answer",
        "2026-03-02T14:00:00+00:00", "2026-03-02T14:00:01+00:00", "", "", "2026-03-02T14:00:31+00:00", "", "",
    ]  # fmt: skip
    Call.objects.filter(pk=call.pk).update(conferences=2, cold_transfers=1)
    rows = list(
        csv.reader(
            io.StringIO(b"".join(client.get(reverse("reporting:export", args=["calls", "csv"]) + query)).decode())
        )
    )
    assert rows[0][5:9] == ["mode", "conferences", "cold_transfers", "provider"]
    assert rows[1][:8] == [str(call.pk), str(engagement.pk), "Phones", "'=Caller", "", "normal", "2", "1"]


def test_transfer_and_call_breakdowns_export_like_the_tables(calls, transfers, world, client):
    """Every grouping of the transfer and call tables downloads with the same figures as the table."""
    import csv
    import io

    from django.urls import reverse

    client.force_login(world.manager)
    query = "?start=2026-03-02&end=2026-03-03"

    def exported(name):
        response = client.get(reverse("reporting:export", args=[name, "csv"]) + query)
        assert response.status_code == 200
        return list(csv.reader(io.StringIO(b"".join(response).decode())))

    rows = exported("metrics_calls_by_operator")
    assert rows[0] == ["group", "calls", "consults", "call_transfers", "conferences", "cold_transfers",
                       "avg_consult_seconds"]  # fmt: skip
    assert [row[:4] for row in rows[1:]] == [["Alice", "1", "2", "2"], ["Bob", "1", "1", "0"]]
    by_team = {r["label"]: r["requested"] for r in metrics.transfer_metrics(scope=transfers.scope(), by="team")}
    assert {row[0]: int(row[1]) for row in exported("metrics_transfers_by_team")[1:]} == by_team
    assert by_team  # the fixture has transfers, so the comparison above compares something
