"""The supervisor socket on the real ASGI app and Redis layer, the wallboard against /reports/, and the
take-over race on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from helpdesk.asgi import application
from helpdesk.models import Engagement, Message, Note
from reporting import metrics
from reporting.scope import build_scope
from supervision import selectors, services
from supervision.errors import SupervisionError
from supervision.models import SupervisorAct
from tests.factories import EngagementFactory
from tests.helpdesk.chat_helpers import ORIGIN, connect, operator_socket, receive_until, send, session_cookie_for
from tests.helpdesk.test_routing_concurrency import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


async def supervisor_socket(user) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie_for)(user)
    return WebsocketCommunicator(
        application,
        "/ws/supervisor/",
        headers=[ORIGIN, (b"cookie", cookie.encode()), (b"host", b"127.0.0.1")],
    )


async def open_board(user) -> tuple[WebsocketCommunicator, dict]:
    socket = await supervisor_socket(user)
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    return socket, await receive_until(socket, "wallboard")


def test_an_operator_or_anonymous_cannot_open_the_supervisor_socket(floor):
    async def scenario():
        socket = await supervisor_socket(floor.alice.user)
        connected, code = await socket.connect(timeout=5)
        assert (connected, code) == (False, 4403) or (await socket.receive_output(timeout=2))["code"] == 4403
        await socket.disconnect()
        anonymous = WebsocketCommunicator(application, "/ws/supervisor/", headers=[ORIGIN, (b"host", b"127.0.0.1")])
        connected, code = await anonymous.connect(timeout=5)
        assert not connected or (await anonymous.receive_output(timeout=2))["code"] == 4401
        await anonymous.disconnect()

    asyncio.run(scenario())


def test_monitor_whisper_and_take_over_over_the_socket(floor, chat):
    async def scenario():
        board_socket, board = await open_board(floor.lead.user)
        assert [row["id"] for row in board["live"]] == [chat.pk]
        console = await operator_socket(floor.alice.user)
        await connect(console)

        await send(board_socket, {"type": "monitor.start", "engagement_id": chat.pk, "ref": "m"})
        detail = await receive_until(board_socket, "engagement.detail")
        assert detail["engagement"]["id"] == chat.pk and detail["ref"] == "m"
        watchers = await receive_until(console, "engagement.watchers")  # the operator sees who watches
        assert [w["name"] for w in watchers["watchers"]] == ["Sam Lead"]

        # A new line of the operator reaches the monitor live, once.
        await send(
            console, {"type": "message.send", "engagement_id": chat.pk, "body": "Let me check", "client_id": "c1"}
        )
        line = await receive_until(board_socket, "message")
        assert line["body"] == "Let me check"

        await send(board_socket, {"type": "whisper", "engagement_id": chat.pk, "body": "Offer the refund"})
        assert (await receive_until(board_socket, "done"))["act"] == "whisper"
        note = await receive_until(console, "note")
        assert note["source"] == "whisper" and note["body"] == "Offer the refund"

        await send(board_socket, {"type": "take_over", "engagement_id": chat.pk, "expected_owner_id": floor.alice.pk})
        assert (await receive_until(board_socket, "done"))["act"] == "take_over"
        assert (await receive_until(console, "supervision.taken_over"))["by_name"] == "Sam Lead"
        refreshed = await receive_until(board_socket, "wallboard")
        while refreshed["live"] and refreshed["live"][0]["owner_id"] != floor.lead.pk:
            refreshed = await receive_until(board_socket, "wallboard")
        assert refreshed["live"][0]["owner"] == "Sam Lead"
        await board_socket.disconnect()
        await console.disconnect()

    asyncio.run(scenario())
    assert not Message.objects.filter(engagement=chat, sender="supervisor").exists()  # a whisper is no chat line
    assert Note.objects.filter(engagement=chat, source="whisper").count() == 1
    assert Engagement.objects.get(pk=chat.pk).owner == floor.lead
    acts = list(SupervisorAct.objects.order_by("pk").values_list("act", flat=True))
    assert acts[:3] == ["monitor_start", "whisper", "take_over"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "whisper", "engagement_id": "x", "body": "hi"},
        {"type": "whisper", "body": "hi"},
        {"type": "reassign", "engagement_id": 1},
        {"type": "force_offline", "operator_id": -3},
        {"type": "unknown.act"},
    ],
)
def test_bad_frames_get_an_error_frame_and_change_nothing(floor, chat, frame):
    async def scenario():
        socket, _ = await open_board(floor.lead.user)
        await send(socket, {**frame, "ref": "bad"})
        error = await receive_until(socket, "error")
        assert error["ref"] == "bad" and error["code"]
        await socket.disconnect()

    asyncio.run(scenario())
    assert not SupervisorAct.objects.exists()
    assert Engagement.objects.get(pk=chat.pk).owner == floor.alice


def test_another_sites_manager_is_refused_every_act_over_the_socket(floor, chat):
    from tests.factories import ManagerFactory

    other = ManagerFactory(sites=[floor.other_site])

    async def scenario():
        socket, board = await open_board(other)
        assert board["live"] == []  # nothing of Lyon on Oslo's board
        for frame in (
            {"type": "monitor.start", "engagement_id": chat.pk},
            {"type": "whisper", "engagement_id": chat.pk, "body": "x"},
            {"type": "take_over", "engagement_id": chat.pk},
            {"type": "force_offline", "operator_id": floor.alice.pk},
        ):
            await send(socket, frame)
            assert (await receive_until(socket, "error"))["code"] == "not_supervisor"
        await socket.disconnect()

    asyncio.run(scenario())
    assert not SupervisorAct.objects.exists()


def test_the_wallboard_figures_are_the_reports_figures_for_today(floor):
    now = timezone.now()
    answered_fast = EngagementFactory(queue=floor.general, state="ended", owner=floor.alice)
    answered_slow = EngagementFactory(queue=floor.general, state="ended", owner=floor.bob)
    abandoned = EngagementFactory(queue=floor.billing, state="ended")
    # Half an hour ago, but today even just after midnight (the wallboard counts today's).
    start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    for engagement, answered_after in ((answered_fast, 5), (answered_slow, 60), (abandoned, None)):
        created = max(now - timedelta(minutes=30), start_of_today)
        Engagement.objects.filter(pk=engagement.pk).update(
            created_at=created,
            queued_at=created,
            answered_at=created + timedelta(seconds=answered_after) if answered_after else None,
            ended_at=created + timedelta(minutes=5),
        )
    board = selectors.wallboard(sites=[floor.site])
    today = now.astimezone(timezone.get_current_timezone()).date()
    scope = build_scope(sites=[floor.site], start_date=today, end_date=today)
    report = {row["key"]: row for row in metrics.engagement_metrics(scope=scope, by="queue")}
    for row in board["queues"]:
        expected = report.get(row["id"], {})
        assert row["answered"] == (expected.get("answered") or 0)
        assert row["abandoned"] == (expected.get("abandoned") or 0)
        assert row["service_level"] == expected.get("service_level")
    general = next(q for q in board["queues"] if q["id"] == floor.general.pk)
    # Hand-computed: two answered, one within 20 s → 50 %; ASA (5 + 60) / 2.
    assert (general["answered"], general["service_level"], round(general["asa"], 1)) == (2, 0.5, 32.5)
    site = board["sites"][0]
    assert (site["answered"], site["abandoned"]) == (2, 1)


def test_two_supervisors_take_over_the_same_chat_at_once_one_wins(floor, chat):
    results = []

    def take(lead):
        def act():
            try:
                services.take_over(supervisor=lead.user, engagement_id=chat.pk, expected_owner_id=floor.alice.pk)
                results.append(lead.pk)
            except SupervisionError as error:
                results.append(error.code)

        return act

    errors = run_in_threads([take(floor.lead), take(floor.lead2)])
    assert not errors
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert Engagement.objects.get(pk=chat.pk).owner_id == winners[0]
    assert SupervisorAct.objects.filter(act="take_over").count() == 1
    assert Message.objects.filter(engagement=chat, sender="system", body__icontains="now talking to").count() == 1


def test_the_audit_trail_is_in_the_admin_scoped_and_exportable_as_csv(floor, chat, client):
    import csv
    import io

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from tests.factories import ManagerFactory

    services.start_watching(supervisor=floor.lead.user, engagement_id=chat.pk)
    services.whisper(supervisor=floor.lead.user, engagement_id=chat.pk, body="Offer the refund")
    client.force_login(floor.manager)
    page = client.get("/admin/supervision/supervisoract/?act__exact=whisper")
    assert page.status_code == 200 and b"1 supervisor act" in page.content
    response = client.post(
        "/admin/supervision/supervisoract/",
        {"action": "export_supervisor_acts_csv", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: ["0"]},
    )
    body = b"".join(response) if response.streaming else response.content
    assert response.status_code == 200, body[:300]
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:4] == ["id", "site", "supervisor", "act"]
    assert sorted(r[3] for r in rows[1:]) == ["monitor_start", "whisper"]
    # Another site's manager sees none of it.
    client.force_login(ManagerFactory(sites=[floor.other_site]))
    other = client.get("/admin/supervision/supervisoract/")
    assert other.status_code == 200 and b"0 supervisor acts" in other.content
