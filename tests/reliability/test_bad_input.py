"""Bad input, a corpus: each case gets a clear refusal and the database stays as it was.

Sockets are driven in-process on the real ASGI app and the real Redis layer (fast); HTTP goes
through Django's test client with CSRF tokens where a browser would send them, so that what
is refused is the bad input itself. "Unchanged" is checked on every row of every table.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.test import Client, override_settings
from twilio.request_validator import RequestValidator

from helpdesk.models import Availability, Media, Note
from helpdesk.services.engagements import add_note, post_message, start_chat
from helpdesk.services.routing import route_engagement
from tests.factories import ManagerFactory, NoteFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.helpdesk.chat_helpers import connect, operator_socket, receive, send, visitor_socket, visitor_token

pytestmark = pytest.mark.django_db(transaction=True)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'
SKIP_TABLES = {"sessions.Session", "axes.AccessAttempt", "axes.AccessLog", "axes.AccessFailureLog"}


def database_state() -> dict[str, list[tuple]]:
    """Every row of every table (sessions and login audit excepted), for before/after comparison."""
    state = {}
    for model in apps.get_models():
        if model._meta.label in SKIP_TABLES or model._meta.proxy:
            continue
        fields = [f.attname for f in model._meta.concrete_fields]
        state[model._meta.label] = list(model.objects.order_by("pk").values_list(*fields))
    return state


def assert_unchanged(before: dict) -> None:
    after = database_state()
    changed = {label: (before[label], after[label]) for label in before if before[label] != after[label]}
    assert not changed, f"tables changed: {list(changed)}"


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def two_sites():
    """Operator A and B on site 1 (one chat each), operator C on site 2 with a chat of their own."""
    site, other_site = SiteFactory(), SiteFactory()
    team, other_team = TeamFactory(site=site), TeamFactory(site=other_site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    other_queue = QueueFactory(site=other_site, teams=[other_team], is_default=True)
    a = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], chat_capacity=1)
    b = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], chat_capacity=1)
    c = OperatorFactory(site=other_site, teams=[other_team], available=[Media.CHAT], chat_capacity=1)
    chats = {}
    for queue_of, name in ((queue, "first"), (queue, "second"), (other_queue, "third")):
        engagement = start_chat(queue=queue_of, visitor_name=name)
        route_engagement(engagement_id=engagement.pk)
        engagement.refresh_from_db()
        chats[engagement.owner_id] = engagement
    for engagement in chats.values():
        post_message(engagement_id=engagement.pk, sender="visitor", body="secret of " + engagement.visitor.name)
        add_note(engagement_id=engagement.pk, author=engagement.owner, body="note of " + engagement.visitor.name)
    return SimpleNamespace(
        site=site,
        other_site=other_site,
        queue=queue,
        a=a,
        b=b,
        c=c,
        mine=chats[a.pk],
        same_site=chats[b.pk],
        other_site_chat=chats[c.pk],
    )


# --- WebSocket frames -----------------------------------------------------------------------------

OVERSIZED = json.dumps({"type": "message.send", "engagement_id": 1, "body": "x" * 40_000})
MALFORMED_FRAMES = [
    pytest.param(b"\x00\xff binary", {"bad_frame"}, id="binary"),
    pytest.param("hello", {"bad_json"}, id="not-json"),
    pytest.param("{'type': 'ping'}", {"bad_json"}, id="python-not-json"),
    pytest.param("[1, 2]", {"bad_frame"}, id="json-array"),
    pytest.param('"message.send"', {"bad_frame"}, id="json-string"),
    pytest.param("null", {"bad_frame"}, id="json-null"),
    pytest.param('{"body": "no type"}', {"bad_frame"}, id="no-type"),
    pytest.param('{"type": 5}', {"bad_frame"}, id="type-not-text"),
    pytest.param('{"type": "engagement.steal"}', {"unknown_type"}, id="unknown-type"),
    pytest.param('{"type": "' + "x" * 5000 + '"}', {"unknown_type"}, id="long-unknown-type"),
    pytest.param(OVERSIZED, {"too_large"}, id="oversized"),
    pytest.param("[" * 12_000 + "]" * 12_000, {"bad_json"}, id="deeply-nested"),
    pytest.param('{"type": "resume", "last_seq": NaN}', {"bad_frame"}, id="nan-number"),
]


@pytest.mark.parametrize(("raw", "codes"), MALFORMED_FRAMES)
@pytest.mark.parametrize("side", ["operator", "visitor"])
def test_malformed_frames_get_an_error_frame_and_the_socket_stays_usable(two_sites, side, raw, codes):
    before = database_state()

    async def scenario():
        socket = await operator_socket(two_sites.a.user) if side == "operator" else visitor_socket(two_sites.mine)
        await connect(socket)
        if isinstance(raw, bytes):
            await socket.send_to(bytes_data=raw)
        else:
            await socket.send_to(text_data=raw)
        error = await receive_type(socket, "error")
        await send(socket, {"type": "ping", "ref": "still-there"})
        pong = await receive_type(socket, "pong")
        await socket.disconnect()
        return error, pong

    error, pong = run(scenario())
    assert error["code"] in codes and error["message"], error
    assert pong["ref"] == "still-there"
    assert_unchanged(before)


async def receive_type(socket, frame_type: str, timeout: float = 5) -> dict:
    while True:
        frame = await receive(socket, timeout=timeout)
        if frame["type"] == frame_type:
            return frame


def own_id(sites):
    return sites.mine.pk


BAD_FIELD_FRAMES = [
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": own_id(s), "body": "x" * 4001},
        "too_long",
        id="message-too-long",
    ),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": own_id(s), "body": {"a": 1}}, "invalid", id="body-object"
    ),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": own_id(s), "body": None}, "invalid", id="body-null"
    ),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": own_id(s), "body": " \n\t "}, "empty", id="body-blank"
    ),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": str(own_id(s)), "body": "x"}, "bad_frame", id="id-as-text"
    ),
    pytest.param(lambda s: {"type": "message.send", "engagement_id": -1, "body": "x"}, "bad_frame", id="id-negative"),
    pytest.param(lambda s: {"type": "message.send", "engagement_id": True, "body": "x"}, "bad_frame", id="id-bool"),
    pytest.param(lambda s: {"type": "message.send", "engagement_id": 1.5, "body": "x"}, "bad_frame", id="id-float"),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": 2**70, "body": "x"}, "not_found", id="id-overflow"
    ),
    pytest.param(
        lambda s: {"type": "message.send", "engagement_id": 9_999_999, "body": "x"}, "not_found", id="id-missing"
    ),
    pytest.param(
        lambda s: {"type": "note.add", "engagement_id": own_id(s), "body": "n" * 4001}, "too_long", id="note-too-long"
    ),
    pytest.param(
        lambda s: {"type": "availability.set", "media": "fax", "status": "available"}, "bad_frame", id="unknown-media"
    ),
    pytest.param(
        lambda s: {"type": "availability.set", "media": "chat", "status": "god-mode"}, "bad_frame", id="unknown-status"
    ),
    pytest.param(lambda s: {"type": "resume", "last_seq": 5}, "bad_frame", id="resume-not-a-map"),
    pytest.param(lambda s: {"type": "read", "engagement_id": own_id(s), "seq": -3}, "bad_frame", id="read-negative"),
]


@pytest.mark.parametrize(("build", "code"), BAD_FIELD_FRAMES)
def test_operator_frames_with_bad_fields_are_refused_with_their_code(two_sites, build, code):
    before = database_state()

    async def scenario():
        socket = await operator_socket(two_sites.a.user)
        await connect(socket)
        await send(socket, {**build(two_sites), "ref": "r1"})
        error = await receive_type(socket, "error")
        await socket.disconnect()
        return error

    error = run(scenario())
    assert (error["code"], error["ref"]) == (code, "r1"), error
    assert_unchanged(before)


FORGED_ACTS = [
    pytest.param(lambda e: {"type": "message.send", "engagement_id": e, "body": "hijack"}, id="message"),
    pytest.param(lambda e: {"type": "note.add", "engagement_id": e, "body": "hijack"}, id="note"),
    pytest.param(lambda e: {"type": "engagement.end", "engagement_id": e}, id="end"),
    pytest.param(lambda e: {"type": "engagement.open", "engagement_id": e}, id="open"),
    pytest.param(lambda e: {"type": "typing", "engagement_id": e, "typing": True}, id="typing"),
]


@pytest.mark.parametrize("build", FORGED_ACTS)
@pytest.mark.parametrize("whose", ["same_site", "other_site_chat"])
def test_operator_acting_on_another_operators_engagement_is_refused(two_sites, build, whose):
    target = getattr(two_sites, whose)
    before = database_state()

    async def scenario():
        socket = await operator_socket(two_sites.a.user)
        await connect(socket)
        await send(socket, {**build(target.pk), "ref": "forged"})
        error = await receive_type(socket, "error")
        frames = await drain_frames(socket)
        await socket.disconnect()
        return error, frames

    error, frames = run(scenario())
    assert error["code"] == "not_owner" and error["ref"] == "forged", error
    assert not [f for f in frames if "secret of" in json.dumps(f) or "note of" in json.dumps(f)]
    assert_unchanged(before)


async def drain_frames(socket, quiet: float = 0.3) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(timeout=quiet):
        frames.append(await receive(socket))
    return frames


@pytest.mark.parametrize("whose", ["same_site", "other_site_chat"])
def test_resume_and_read_of_another_operators_engagement_leak_nothing_and_change_nothing(two_sites, whose):
    target = getattr(two_sites, whose)
    before = database_state()

    async def scenario():
        socket = await operator_socket(two_sites.a.user, query=f"resume={target.pk}:0")
        hello = await connect(socket)
        await send(socket, {"type": "resume", "last_seq": {str(target.pk): 0}})
        await send(socket, {"type": "read", "engagement_id": target.pk, "seq": 1})
        await send(socket, {"type": "typing", "engagement_id": target.pk, "typing": True})
        frames = [hello, *await drain_frames(socket, quiet=0.5)]
        await socket.disconnect()
        return frames

    frames = run(scenario())
    leaked = [f for f in frames if f"secret of {target.visitor.name}" in json.dumps(f)]
    assert leaked == []
    assert_unchanged(before)


def test_forged_visitor_tokens_are_refused_at_the_handshake(two_sites):
    token = visitor_token(two_sites.mine)
    forged = [
        "not-a-token",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        visitor_token(two_sites.mine).replace(":", ";"),
        "eyJlIjoxfQ:1abc:" + "x" * 43,  # a payload naming engagement 1 with a made-up signature
        "%00",
    ]

    async def scenario():
        codes = []
        for value in forged:
            socket = visitor_socket(token=value)
            connected, code = await socket.connect(timeout=5)
            codes.append((value, connected, code))
            await socket.disconnect()
        return codes

    for value, connected, code in run(scenario()):
        assert not connected, f"token {value!r} was accepted"


def test_a_visitor_can_only_ever_write_to_their_own_engagement(two_sites):
    before_other = list(two_sites.same_site.messages.values_list("seq", "body"))

    async def scenario():
        socket = visitor_socket(two_sites.mine)
        await connect(socket)
        await send(socket, {"type": "message.send", "engagement_id": two_sites.same_site.pk, "body": "sneaky"})
        await send(socket, {"type": "resume", "last_seq": 0, "engagement_id": two_sites.same_site.pk})
        frames = await drain_frames(socket, quiet=0.5)
        await socket.disconnect()
        return frames

    frames = run(scenario())
    assert list(two_sites.same_site.messages.values_list("seq", "body")) == before_other
    assert not [f for f in frames if f.get("engagement_id") == two_sites.same_site.pk]
    assert two_sites.mine.messages.filter(body="sneaky").exists()  # the id in the frame is ignored


@pytest.mark.parametrize(
    "origin", [b"http://evil.example", b"null", b"http://127.0.0.1.evil.example", b"https://localhost.evil"]
)
@pytest.mark.parametrize("side", ["operator", "visitor"])
def test_cross_origin_websocket_handshakes_are_refused(two_sites, side, origin):
    async def scenario():
        if side == "operator":
            socket = await operator_socket(two_sites.a.user, origin=origin)
        else:
            from channels.testing import WebsocketCommunicator

            from helpdesk.asgi import application

            socket = WebsocketCommunicator(
                application,
                f"/ws/visitor/{visitor_token(two_sites.mine)}/",
                headers=[(b"origin", origin), (b"host", b"127.0.0.1")],
            )
        connected, _ = await socket.connect(timeout=5)
        await socket.disconnect()
        return connected

    assert run(scenario()) is False


def test_sockets_without_a_session_are_refused(two_sites):
    from channels.testing import WebsocketCommunicator

    from helpdesk.asgi import application

    async def scenario():
        socket = WebsocketCommunicator(
            application, "/ws/operator/", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        )
        connected, code = await socket.connect(timeout=5)
        forged = WebsocketCommunicator(
            application,
            "/ws/operator/",
            headers=[
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
                (b"cookie", b"sessionid=forged0000000000000000000000000000"),
            ],
        )
        forged_connected, forged_code = await forged.connect(timeout=5)
        return connected, code, forged_connected, forged_code

    connected, code, forged_connected, forged_code = run(scenario())
    assert not connected and code == 4401
    assert not forged_connected and forged_code == 4401


@override_settings(VISITOR_MESSAGES_PER_MINUTE=5)
def test_a_visitor_flooding_past_the_rate_limit_is_refused_and_only_the_allowed_are_stored(two_sites):
    stored_before = two_sites.mine.messages.count()
    # The limit counts the visitor's lines of the last minute, the fixture's own included.
    room = 5 - two_sites.mine.messages.filter(sender="visitor").count()
    assert room > 0

    async def scenario():
        socket = visitor_socket(two_sites.mine)
        await connect(socket)
        for i in range(25):
            await send(socket, {"type": "message.send", "body": f"flood {i}", "ref": i})
        frames = await drain_frames(socket, quiet=1.0)
        await socket.disconnect()
        return frames

    frames = run(scenario())
    refused = [f for f in frames if f["type"] == "error"]
    assert len(refused) == 25 - room and {f["code"] for f in refused} == {"rate_limited"}
    assert two_sites.mine.messages.count() == stored_before + room


OPERATOR_FLOODS = [
    pytest.param(
        "message.send",
        lambda s, i: {"type": "message.send", "engagement_id": own_id(s), "body": f"flood {i}"},
        id="message",
    ),
    pytest.param(
        "note.add", lambda s, i: {"type": "note.add", "engagement_id": own_id(s), "body": f"n {i}"}, id="note"
    ),
    pytest.param(
        "typing", lambda s, i: {"type": "typing", "engagement_id": own_id(s), "typing": i % 2 == 0}, id="typing"
    ),
    pytest.param("engagement.open", lambda s, i: {"type": "engagement.open", "engagement_id": own_id(s)}, id="open"),
    pytest.param(
        "availability.set",
        lambda s, i: {"type": "availability.set", "media": "chat", "status": ("away", "available")[i % 2]},
        id="availability",
    ),
    pytest.param("*", lambda s, i: {"type": "read", "engagement_id": own_id(s), "seq": 1}, id="read-under-star"),
    pytest.param("*", lambda s, i: {"type": "resume", "last_seq": {str(own_id(s)): 0}}, id="resume-under-star"),
    pytest.param("*", lambda s, i: {"type": "ping"}, id="ping-under-star"),
]


def database_state_in_a_thread() -> dict[str, list[tuple]]:
    """`database_state` from inside a socket scenario; the worker thread's connection is closed after."""
    from django.db import connection

    try:
        return database_state()
    finally:
        connection.close()


@pytest.mark.parametrize(("limit", "build"), OPERATOR_FLOODS)
def test_an_operator_flooding_past_a_frame_limit_is_refused_and_nothing_is_stored(two_sites, limit, build):
    """Finding R5: each limited frame type (and "*", every frame) refuses with `rate_limited` past its limit."""
    allowed, extra = 4, 12

    async def scenario():
        with override_settings(OPERATOR_FRAME_LIMITS={limit: allowed}):
            socket = await operator_socket(two_sites.a.user)
            await connect(socket)
            for i in range(allowed):
                await send(socket, {**build(two_sites, i), "ref": f"ok{i}"})
            first = await drain_frames(socket, quiet=0.5)
            before = await database_sync_to_async(database_state_in_a_thread)()
            for i in range(allowed, allowed + extra):
                await send(socket, {**build(two_sites, i), "ref": f"flood{i}"})
            later = await drain_frames(socket, quiet=1.0)
            await socket.disconnect()
        return first, before, later

    first, before, later = run(scenario())
    assert not [f for f in first if f["type"] == "error" and f["code"] == "rate_limited"], first
    refused = [f for f in later if f["type"] == "error"]
    assert [(f["code"], f["ref"]) for f in refused] == [
        ("rate_limited", f"flood{i}") for i in range(allowed, allowed + extra)
    ]
    assert all("too fast" in f["message"] for f in refused)
    assert not [f for f in later if f["type"] != "error" and f.get("type") not in ("availability", "queues.changed")]
    assert_unchanged(before)


# --- HTTP: forged ids, markup, CSV injection, webhooks ----------------------------------------------


def signed_in_client(user) -> tuple[Client, str]:
    """A client that sends a CSRF token like the console's JS does."""
    client = Client()
    client.force_login(user)
    client.get("/accounts/login/")
    return client, client.cookies["csrftoken"].value


def post_json(client, csrf, path, body=None):
    return client.post(path, json.dumps(body or {}), content_type="application/json", HTTP_X_CSRFTOKEN=csrf)


def test_transfer_acts_on_another_operators_engagement_are_refused(two_sites):
    free = OperatorFactory(site=two_sites.site, available=[Media.CHAT])
    client, csrf = signed_in_client(two_sites.a.user)
    before = database_state()
    for engagement in (two_sites.same_site, two_sites.other_site_chat):
        request = post_json(
            client, csrf, f"/transfers/engagements/{engagement.pk}/request/", {"target_operator_id": free.pk}
        )
        assert request.status_code in (403, 404) and "error" in request.json(), request.content
        for path in (f"/transfers/engagements/{engagement.pk}/", f"/transfers/engagements/{engagement.pk}/targets/"):
            response = client.get(path)
            assert response.status_code in (403, 404), path
            assert "secret of" not in response.content.decode()
    assert_unchanged(before)


@pytest.fixture
def offered_transfer(two_sites):
    """B offers their chat to D (same site); A is a bystander."""
    from transfers import services as transfer_services

    d = OperatorFactory(site=two_sites.site, available=[Media.CHAT])
    transfer = transfer_services.request_transfer(
        engagement_id=two_sites.same_site.pk, initiator=two_sites.b, target_operator_id=d.pk, warm_message=XSS
    )
    return SimpleNamespace(transfer=transfer, d=d)


@pytest.mark.parametrize("act", ["accept", "decline", "cancel", "now"])
@pytest.mark.parametrize("who", ["bystander", "other_site"])
def test_transfer_acts_by_someone_neither_offered_nor_initiating_are_refused(two_sites, offered_transfer, act, who):
    user = (two_sites.a if who == "bystander" else two_sites.c).user
    client, csrf = signed_in_client(user)
    before = database_state()
    response = post_json(client, csrf, f"/transfers/{offered_transfer.transfer.pk}/{act}/", {"reason": "busy"})
    assert response.status_code in (403, 404, 409), (act, response.status_code)
    assert "error" in response.json()
    assert_unchanged(before)


CALL_ACTS = ["hold", "unhold", "hang-up-consult", "cold-transfer", "conference", "release", "end-conference", "consult"]


@pytest.mark.parametrize("act", CALL_ACTS)
def test_call_acts_on_a_call_that_is_not_yours_are_refused(two_sites, act):
    from telephony import services as call_services

    voice_team = TeamFactory(site=two_sites.site)
    voice_queue = QueueFactory(site=two_sites.site, teams=[voice_team], media=Media.VOICE)
    OperatorFactory(site=two_sites.site, teams=[voice_team], available=[Media.VOICE])
    call = call_services.place_call(queue=voice_queue, caller_name=XSS[:100], phone_number="")
    legs = list(call.legs.values_list("pk", flat=True))
    client, csrf = signed_in_client(two_sites.c.user)
    before = database_state()
    response = post_json(client, csrf, f"/phone/api/calls/{call.pk}/{act}/")
    assert response.status_code in (400, 403, 404, 409), (act, response.status_code)
    for leg_id in legs:
        for leg_act in ("answer", "decline", "hang-up"):
            response = post_json(client, csrf, f"/phone/api/legs/{leg_id}/{leg_act}/")
            assert response.status_code in (400, 403, 404, 409), (leg_act, response.status_code)
    assert_unchanged(before)


def test_markup_in_every_text_field_is_shown_as_text(two_sites):
    """Visitor name, message, note, queue name, decline reason: escaped in every page that shows them."""
    two_sites.queue.name = "Queue " + XSS
    two_sites.queue.save()
    engagement = start_chat(queue=two_sites.queue, visitor_name=XSS[:100])
    Availability.objects.filter(operator=two_sites.a, media=Media.CHAT).update(capacity=2)
    route_engagement(engagement_id=engagement.pk)
    engagement.refresh_from_db()
    assert engagement.owner_id == two_sites.a.pk
    post_message(engagement_id=engagement.pk, sender="visitor", body=XSS)
    add_note(engagement_id=engagement.pk, author=two_sites.a, body=XSS)

    operator_client, _ = signed_in_client(two_sites.a.user)
    manager = ManagerFactory(sites=[two_sites.site], is_superuser=True)
    manager_client, _ = signed_in_client(manager)
    token = visitor_token(engagement)
    pages = {
        "console": operator_client.get("/console/"),
        "visitor chat": Client().get(f"/chat/{token}/"),
        "visitor start": Client().get(f"/chat/?site={two_sites.site.pk}"),
        "admin engagements": manager_client.get("/admin/helpdesk/engagement/"),
        "admin notes": manager_client.get(f"/admin/helpdesk/engagement/{engagement.pk}/change/"),
        "reports": manager_client.get("/reports/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, (name, response.status_code)
        html = response.content.decode()
        assert "<script>alert" not in html and "<img src=x onerror" not in html, f"raw markup in {name}"


@pytest.mark.parametrize(
    "payload",
    ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1"],
)
def test_csv_exports_neutralise_formula_injection_in_every_text_cell(two_sites, payload):
    engagement = start_chat(queue=two_sites.queue, visitor_name=payload[:100])
    post_message(engagement_id=engagement.pk, sender="visitor", body=payload)
    NoteFactory(engagement=engagement, body=payload, source=Note.Source.SYSTEM)
    manager = ManagerFactory(sites=[two_sites.site], is_superuser=True)
    client, _ = signed_in_client(manager)
    for dataset in ("engagements", "messages", "notes"):
        response = client.get(f"/reports/export/{dataset}.csv")
        assert response.status_code == 200, dataset
        content = b"".join(response).decode("utf-8-sig")  # consumes the async stream
        cells = [cell for row in csv.reader(io.StringIO(content)) for cell in row]
        dangerous = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(cell)]
        assert dangerous == [], (dataset, dangerous)
        assert any(payload.strip() in cell for cell in cells), f"{dataset} export lost the text"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


TWILIO = {
    "TELEPHONY_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-auth-token",
    "PUBLIC_BASE_URL": "https://helpdesk.example.com",
}
WEBHOOK = "/phone/webhooks/twilio/"


def twilio_signature(params: dict, token: str = "test-auth-token") -> str:
    return RequestValidator(token).compute_signature("https://helpdesk.example.com" + WEBHOOK, params)


STATUS = {"CallSid": "CA-UNKNOWN", "CallStatus": "completed", "SequenceNumber": "7"}
BAD_WEBHOOKS = [
    pytest.param(STATUS, None, id="unsigned"),
    pytest.param(STATUS, "", id="empty-signature"),
    pytest.param(STATUS, "bm90LWEtc2lnbmF0dXJl", id="made-up-signature"),
    pytest.param(STATUS, twilio_signature(STATUS, token="someone-elses-token"), id="other-accounts-token"),
    pytest.param({**STATUS, "CallStatus": "in-progress"}, twilio_signature(STATUS), id="tampered-after-signing"),
]


@override_settings(**TWILIO)
@pytest.mark.parametrize(("params", "signature"), BAD_WEBHOOKS)
def test_unsigned_or_forged_provider_webhooks_are_refused_and_change_nothing(two_sites, params, signature):
    before = database_state()
    headers = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    response = Client().post(WEBHOOK, params, **headers)
    assert response.status_code == 403
    assert_unchanged(before)


@override_settings(**TWILIO)
def test_a_replayed_provider_webhook_changes_nothing_the_second_time(two_sites):
    client = Client()
    assert client.post(WEBHOOK, STATUS, HTTP_X_TWILIO_SIGNATURE=twilio_signature(STATUS)).status_code == 204
    after_first = database_state()
    assert client.post(WEBHOOK, STATUS, HTTP_X_TWILIO_SIGNATURE=twilio_signature(STATUS)).status_code == 204
    assert_unchanged(after_first)


def test_api_never_shows_another_sites_engagements_or_takes_notes_on_them(two_sites):
    client, csrf = signed_in_client(two_sites.a.user)
    before = database_state()
    other = two_sites.other_site_chat
    response = client.get(f"/api/engagements/{other.pk}/")
    assert response.status_code in (403, 404)
    listing = client.get("/api/engagements/")
    assert str(other.visitor.name) not in listing.content.decode()
    note = client.post(
        "/api/notes/",
        json.dumps({"engagement": other.pk, "body": "hijack"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert note.status_code in (400, 403, 404, 405), note.content
    assert_unchanged(before)


def test_api_never_shows_a_colleagues_conversation_or_takes_notes_on_it(two_sites):
    """Same site, another operator's chat: the API refuses it as the operator socket does."""
    client, csrf = signed_in_client(two_sites.a.user)
    before = database_state()
    theirs = two_sites.same_site
    assert client.get(f"/api/engagements/{theirs.pk}/").status_code == 404
    for listing in (f"/api/messages/?engagement={theirs.pk}", f"/api/notes/?engagement={theirs.pk}", "/api/notes/"):
        response = client.get(listing)
        assert response.status_code == 200, listing
        text = response.content.decode()
        assert "of " + theirs.visitor.name not in text, listing  # "secret of …" / "note of …"
    mine = client.get(f"/api/messages/?engagement={two_sites.mine.pk}").content.decode()
    assert "secret of " + two_sites.mine.visitor.name in mine  # the filter works for their own chat
    note = client.post(
        f"/api/engagements/{theirs.pk}/notes/",
        json.dumps({"body": "hijack"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert note.status_code == 404, note.content
    assert_unchanged(before)
