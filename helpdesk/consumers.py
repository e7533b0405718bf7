"""The chat sockets: the operator console's one socket and the visitor's socket.

Consumers only parse and check frames, call a service or selector, and forward frames that
the services publish (`frame.send`) unchanged. Every frame is documented in docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import async_db, frames, selectors
from .errors import ChatError, DomainError, NotAllowed
from .models import Engagement, Message, Operator
from .rate_limits import aoperator_frame_refused, avisitor_frame_refused
from .realtime import bind_server_loop, engagement_group, operator_group, site_group
from .services import engagements as engagement_services
from .services.messages_async import PostedLine, amessage_frames_between, apost_message
from .services.presence import set_availability
from .signals import visitor_hello as visitor_hello_signal
from .visitor_tokens import engagement_id_from_token, token_opens

logger = logging.getLogger(__name__)

# A message of MESSAGE_MAX_LENGTH characters, JSON-escaped, fits well within this.
MAX_FRAME_BYTES = 6 * settings.MESSAGE_MAX_LENGTH + 1024
RESUME_LIMIT = 1000

# Chat lines are the hot path: they run in a pool of their own (each thread keeps its database
# connection when CONN_MAX_AGE > 0), so one slow commit does not hold up every other socket.
CHAT_EXECUTOR = ThreadPoolExecutor(max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-db")


def in_chat_pool(function):
    return database_sync_to_async(function, thread_sensitive=False, executor=CHAT_EXECUTOR)


CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def parse_resume(query_string: bytes) -> dict[int, int]:
    """`?resume=12:5,13:0` (operator) → {12: 5, 13: 0}; malformed pairs are ignored."""
    values = parse_qs(query_string.decode("latin-1")).get("resume", [""])
    resume: dict[int, int] = {}
    for pair in values[0].split(","):
        engagement_id, _, seq = pair.partition(":")
        if engagement_id.isdigit() and seq.isdigit():
            resume[int(engagement_id)] = int(seq)
    return resume


def what_an_answer_names(frame: dict) -> dict:
    """What an error frame repeats of the frame it answers, so the client knows which one failed:
    its `ref`, and for a chat line its `client_id` and `engagement_id` (when they were well formed)."""
    about = {"ref": frame.get("ref") if isinstance(frame.get("ref"), str | int) else None}
    if isinstance(frame.get("client_id"), str) and len(frame["client_id"]) <= 64:
        about["client_id"] = frame["client_id"]
    engagement_id = frame.get("engagement_id")
    if isinstance(engagement_id, int) and not isinstance(engagement_id, bool):
        about["engagement_id"] = engagement_id
    return about


def frame_int(frame: dict, key: str) -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChatError("bad_frame", f"'{key}' must be a non-negative integer.")
    return value


async def messages_between(*, engagement_id: int, after_seq: int, before_seq: int) -> list[dict]:
    """Committed messages strictly between two seqs (a later seq commits only after the earlier ones).

    On the event loop with PostgreSQL, else in the chat's threads: never in Django's one sync
    thread, where under load every socket's fill waited for all the others (amessage_frames_between).
    """
    if async_db.available():
        return await amessage_frames_between(engagement_id=engagement_id, after_seq=after_seq, before_seq=before_seq)
    return await in_chat_pool(selectors.message_frames_after)(
        engagement_id=engagement_id, after_seq=after_seq, before_seq=before_seq
    )


class ChatConsumer(AsyncWebsocketConsumer):
    """What both sockets share: frame validation, error frames, and in-order, once-only messages.

    `sent_seq` is the highest message seq this socket has delivered per engagement (or the
    client's starting point). Live `message` frames can reach a consumer late or out of order
    (published by different processes) and twice (read during catch-up and live); so a frame at
    or below `sent_seq` is dropped, and one beyond `sent_seq + 1` first has the gap filled from
    the database. `delivered` is what this socket really sent: a catch-up the client asks for
    again (a `resume` right after a resuming connect) skips it. The client thus gets every
    message once, in seq order.
    """

    handlers: dict[str, str] = {}

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch minus its `aclose_old_connections()` before every message.

        That call is a hop to Django's one sync thread for each frame in and each frame
        forwarded; under load it queued behind other work and held chat lines up (see
        docs/performance.md). Our database work already closes stale connections itself:
        `database_sync_to_async` does it around each call, and chat lines use the async pool.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.sent_seq: dict[int, int] = {}
        self.delivered: dict[int, int] = {}
        self.joined: list[str] = []
        bind_server_loop(asyncio.get_running_loop())

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame))

    def set_baseline(self, engagement_id: int, seq: int) -> None:
        """The client has (or does not want) every message of the engagement up to `seq`."""
        if seq > self.sent_seq.get(engagement_id, -1):
            self.sent_seq[engagement_id] = seq

    async def send_catch_up(self, result: tuple[dict, list[dict]]) -> None:
        """Deliver messages read from the database after the client's starting points, in order."""
        starting_points, messages = result
        for engagement_id, seq in starting_points.items():
            self.set_baseline(engagement_id, seq)
        for frame in messages:
            if frame["seq"] <= self.delivered.get(frame["engagement_id"], 0):
                continue
            self.set_baseline(frame["engagement_id"], frame["seq"])
            await self.send_message(frame)

    async def frame_send(self, message: dict) -> None:
        """A frame published to one of our groups: forward it (messages once and in order)."""
        frame = message["frame"]
        if frame.get("type") == "message":
            await self.forward_message(frame)
            return
        await self.on_frame_forwarded(frame)
        await self.send(text_data=json.dumps(frame))

    async def forward_message(self, frame: dict) -> None:
        engagement_id, seq = frame["engagement_id"], frame["seq"]
        sent = self.sent_seq.get(engagement_id)
        if sent is not None:
            if seq <= sent:
                return
            if seq > sent + 1:
                for missing in await messages_between(engagement_id=engagement_id, after_seq=sent, before_seq=seq):
                    await self.send_message(missing)
        self.sent_seq[engagement_id] = seq
        await self.send_message(frame)

    async def send_message(self, frame: dict) -> None:
        self.delivered[frame["engagement_id"]] = max(frame["seq"], self.delivered.get(frame["engagement_id"], 0))
        await self.send_frame(frame)

    async def on_frame_forwarded(self, frame: dict) -> None:
        """Hook for consumers that keep state in step with frames they pass on."""

    async def receive(self, text_data=None, bytes_data=None):
        about: dict = {"ref": None}
        try:
            frame = self.parse_frame(text_data)
            about = what_an_answer_names(frame)
            handler = self.handlers.get(frame["type"])
            if handler is None:
                raise ChatError("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")
            await self.check_rate_limit(frame["type"])
            await getattr(self, handler)(frame)
        except DomainError as error:
            await self.send_frame({"type": "error", **error.as_dict(), **about})
        except Engagement.DoesNotExist:
            await self.send_frame({"type": "error", "code": "not_found", "message": "No such engagement.", **about})
        except Exception:
            logger.exception("Frame failed on %s", type(self).__name__)
            await self.send_frame(
                {"type": "error", "code": "internal", "message": "Something went wrong; try again.", **about}
            )

    async def check_rate_limit(self, frame_type: str) -> None:
        """Hook: raise ChatError("rate_limited") before a valid frame of a known type is handled."""

    def parse_frame(self, text_data: str | None) -> dict:
        if text_data is None:
            raise ChatError("bad_frame", "Frames are JSON text, not binary.")
        if len(text_data) > MAX_FRAME_BYTES:
            raise ChatError("too_large", f"Frames are at most {MAX_FRAME_BYTES} characters.")
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            raise ChatError("bad_json", "The frame is not valid JSON.")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ChatError("bad_frame", "A frame is a JSON object with a 'type'.")
        return frame

    async def handle_ping(self, frame: dict) -> None:
        """Heartbeat; also the safety net for a publish lost while Redis was down: whatever was
        stored after the last message this socket delivered is sent now, before the pong."""
        if self.sent_seq:
            await self.send_catch_up(await catch_up(engagement_ids_after=dict(self.sent_seq), **self.catch_up_scope()))
        await self.send_frame({"type": "pong", "ref": frame.get("ref")})

    def catch_up_scope(self) -> dict:
        return {}

    async def acknowledge(self, line: PostedLine, *, ref) -> None:
        """Every line sent is answered: first its ack (stored as seq N, or already stored), then the line
        itself, straight from the post, so the sender sees it even if its publish is lost (de-duplicated)."""
        frame = line.frame
        await self.send_frame(
            frames.message_ack_frame(
                engagement_id=frame["engagement_id"],
                client_id=frame["client_id"],
                seq=frame["seq"],
                duplicate=line.duplicate,
                ref=ref,
            )
        )
        await self.forward_message(frame)


# --- Operator -----------------------------------------------------------------------------------


@database_sync_to_async
def operator_of(user) -> Operator | None:
    if not user.is_authenticated:
        return None
    return Operator.objects.filter(user=user).select_related("user").first()


@database_sync_to_async
def console_snapshot(operator: Operator) -> dict:
    engagements = selectors.console_engagements_of(operator=operator)
    return {
        "type": "hello",
        "operator": {"id": operator.pk, "name": operator.display_name, "site_id": operator.site_id},
        "availability": [
            {"media": a.media, "status": a.status, "load": a.load, "capacity": a.capacity, "wrap_ups": a.wrap_ups}
            for a in operator.availabilities.order_by("media")
        ],
        "engagements": [{**frames.engagement_summary(e), "unread": e.unread} for e in engagements],
        "wrap_ups": selectors.open_wrap_ups_of(operator=operator),
        "queues": selectors.site_queue_overview(site_id=operator.site_id),
        "served_queue_ids": list(selectors.queues_served_by(operator=operator).values_list("pk", flat=True)),
    }


@database_sync_to_async
def catch_up(*, engagement_ids_after: dict[int, int], operator: Operator | None = None) -> tuple[dict, list[dict]]:
    """Messages after the given seq of each engagement; an operator gets only engagements they own.

    Returns the starting points that were allowed and the message frames, in order.
    """
    if operator is not None:
        allowed = set(
            Engagement.objects.filter(
                pk__in=engagement_ids_after, owner=operator, state=Engagement.State.ACTIVE
            ).values_list("pk", flat=True)
        )
    else:
        allowed = set(engagement_ids_after)
    frames = []
    for engagement_id in sorted(allowed):
        after = engagement_ids_after[engagement_id]
        frames += selectors.message_frames_after(engagement_id=engagement_id, after_seq=after, limit=RESUME_LIMIT)
    return {e: engagement_ids_after[e] for e in allowed}, frames


@database_sync_to_async
def engagement_detail(*, engagement_id: int, operator: Operator, after_seq: int = 0) -> dict:
    engagement = Engagement.objects.select_related("visitor", "queue", "owner").get(pk=engagement_id)
    if engagement.owner_id != operator.pk:
        raise NotAllowed("not_owner", "You do not own this engagement.")
    return selectors.engagement_detail(engagement, after_seq=after_seq)


class OperatorConsumer(ChatConsumer):
    """The console's socket: the operator's own frames, their site's presence and queue frames."""

    handlers = {
        "message.send": "handle_message_send",
        "typing": "handle_typing",
        "read": "handle_read",
        "note.add": "handle_note_add",
        "engagement.open": "handle_engagement_open",
        "engagement.end": "handle_engagement_end",
        "availability.set": "handle_availability_set",
        "resume": "handle_resume",
        "ping": "handle_ping",
    }

    async def connect(self):
        await super().connect()
        self.operator = await operator_of(self.scope["user"])
        if self.operator is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.join(operator_group(self.operator.pk))
        await self.join(site_group(self.operator.site_id))
        await self.accept()
        snapshot = await console_snapshot(self.operator)
        await self.send_frame(snapshot)
        resume = parse_resume(self.scope.get("query_string", b""))
        if resume:
            await self.send_catch_up(await catch_up(engagement_ids_after=resume, operator=self.operator))
        for engagement in snapshot["engagements"]:
            self.set_baseline(engagement["id"], engagement["last_seq"])

    async def on_frame_forwarded(self, frame: dict) -> None:
        if frame["type"] == "engagement.assigned":
            self.set_baseline(frame["engagement"]["id"], frame["engagement"]["last_seq"])
        elif frame["type"] == "engagement.detail" and frame["messages"]:
            self.set_baseline(frame["engagement"]["id"], frame["messages"][-1]["seq"])

    def catch_up_scope(self) -> dict:
        return {"operator": self.operator}

    async def check_rate_limit(self, frame_type: str) -> None:
        """Every known frame of an operator counts against their per-minute limits (one Redis round
        trip, shared by all their sockets and processes); a frame past one is refused, nothing stored."""
        refused = await aoperator_frame_refused(operator_id=self.operator.pk, frame_type=frame_type)
        if refused is None:
            return
        what = "frames" if refused == "*" else f"'{refused}' frames"
        raise ChatError("rate_limited", f"You are sending {what} too fast; wait a moment and try again.")

    async def session_ended(self, message: dict) -> None:
        """The operator logged out (another tab or device), was deactivated or deleted: this socket closes."""
        await self.send_frame({"type": "session.ended"})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def handle_message_send(self, frame: dict) -> None:
        post = apost_message if async_db.available() else in_chat_pool(post_message_line)
        line = await post(
            engagement_id=frame_int(frame, "engagement_id"),
            sender=Message.Sender.OPERATOR,
            body=frame.get("body"),
            operator=self.operator,
            client_id=frame.get("client_id"),
        )
        await self.acknowledge(line, ref=frame.get("ref"))

    async def handle_typing(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.signal_typing)(
            engagement_id=frame_int(frame, "engagement_id"), typing=bool(frame.get("typing")), operator=self.operator
        )

    async def handle_read(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.mark_read)(
            engagement_id=frame_int(frame, "engagement_id"), operator=self.operator, seq=frame_int(frame, "seq")
        )

    async def handle_note_add(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.add_note)(
            engagement_id=frame_int(frame, "engagement_id"), author=self.operator, body=frame.get("body")
        )

    async def handle_engagement_open(self, frame: dict) -> None:
        # `after_seq`: the console holds the lines up to it (an accepted transfer's history).
        after_seq = frame_int(frame, "after_seq") if "after_seq" in frame else 0
        detail = await engagement_detail(
            engagement_id=frame_int(frame, "engagement_id"), operator=self.operator, after_seq=after_seq
        )
        if detail["messages"]:
            engagement_id, last = detail["engagement"]["id"], detail["messages"][-1]["seq"]
            self.set_baseline(engagement_id, last)
            self.delivered[engagement_id] = max(last, self.delivered.get(engagement_id, 0))
        await self.send_frame({**detail, "ref": frame.get("ref")})

    async def handle_engagement_end(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.end_engagement)(
            engagement_id=frame_int(frame, "engagement_id"),
            reason=Engagement.EndReason.OPERATOR_ENDED,
            operator=self.operator,
        )

    async def handle_availability_set(self, frame: dict) -> None:
        media, status = frame.get("media"), frame.get("status")
        try:
            await database_sync_to_async(set_availability)(operator=self.operator, media=media, status=status)
        except ValueError as error:
            raise ChatError("bad_frame", str(error))

    async def handle_resume(self, frame: dict) -> None:
        last_seq = frame.get("last_seq")
        if not isinstance(last_seq, dict):
            raise ChatError("bad_frame", "'last_seq' maps engagement ids to the last seq seen.")
        wanted = {int(k): v for k, v in last_seq.items() if str(k).isdigit() and isinstance(v, int) and v >= 0}
        await self.send_catch_up(await catch_up(engagement_ids_after=wanted, operator=self.operator))


# --- Visitor ------------------------------------------------------------------------------------


@database_sync_to_async
def visitor_opening(engagement_id: int, after_seq: int | None) -> tuple[dict | None, tuple[dict, list[dict]]]:
    """The hello frame and the catch-up of a visitor socket, in one trip to the database thread."""
    engagement = Engagement.objects.select_related("owner", "visitor", "queue").filter(pk=engagement_id).first()
    if engagement is None or not token_opens(engagement):  # gone, or ended longer ago than tokens last
        return None, ({}, [])
    catch = ({}, [])
    if after_seq is not None:
        frames = selectors.message_frames_after(engagement_id=engagement_id, after_seq=after_seq, limit=RESUME_LIMIT)
        catch = ({engagement_id: after_seq}, frames)
    return visitor_hello(engagement), catch


def visitor_hello(engagement: Engagement) -> dict:
    hello = {
        "type": "hello",
        "engagement_id": engagement.pk,
        "state": engagement.state,
        "operator_name": engagement.owner.display_name if engagement.owner_id else "",
        "queue": engagement.queue.name,
        "position": selectors.queue_position(engagement=engagement),
        "estimated_wait_minutes": selectors.wait_estimate_of(engagement=engagement),
        "queued_at": engagement.queued_at.isoformat(),
        "last_seq": engagement.last_seq,
        "reason": engagement.end_reason,
    }
    for _receiver, fields in visitor_hello_signal.send(sender=Engagement, engagement=engagement):
        hello.update(fields or {})
    return hello


def post_visitor_message(*, engagement_id: int, body: object, client_id: object) -> PostedLine:
    """The ORM path of a visitor's line: the message limit (as the async path's statement has it),
    then the post, in one trip to a worker thread."""
    if selectors.visitor_over_message_limit(engagement_id=engagement_id):
        raise ChatError("rate_limited", "You are sending messages too fast; wait a moment.")
    return post_message_line(engagement_id=engagement_id, sender=Message.Sender.VISITOR, body=body, client_id=client_id)


def post_message_line(**kwargs) -> PostedLine:
    """The ORM path of a chat line (SQLite, or no async pool), answered like `apost_message`."""
    message = engagement_services.post_message(**kwargs)
    return PostedLine(frame=frames.message_frame(message), duplicate=message.duplicate)


class VisitorConsumer(ChatConsumer):
    """The visitor's socket, opened by the signed token of their one engagement."""

    handlers = {
        "message.send": "handle_message_send",
        "typing": "handle_typing",
        "engagement.end": "handle_end",
        "resume": "handle_resume",
        "ping": "handle_ping",
    }

    async def connect(self):
        await super().connect()
        self.engagement_id = engagement_id_from_token(self.scope["url_route"]["kwargs"]["token"])
        if self.engagement_id is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Join before reading, so nothing committed in between is missed (duplicates are dropped).
        await self.join(engagement_group(self.engagement_id))
        last_seq = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_seq", [""])[0]
        hello, catch = await visitor_opening(self.engagement_id, int(last_seq) if last_seq.isdigit() else None)
        if hello is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.send_frame(hello)
        await self.send_catch_up(catch)
        self.set_baseline(self.engagement_id, hello["last_seq"])

    async def check_rate_limit(self, frame_type: str) -> None:
        """`typing` and `resume` count against small per-engagement limits (messages are limited
        where they are posted, in the same trip as the post)."""
        if await avisitor_frame_refused(engagement_id=self.engagement_id, frame_type=frame_type):
            raise ChatError("rate_limited", f"You are sending '{frame_type}' frames too fast; wait a moment.")

    async def handle_message_send(self, frame: dict) -> None:
        body, client_id = frame.get("body"), frame.get("client_id")
        if not async_db.available():
            line = await in_chat_pool(post_visitor_message)(
                engagement_id=self.engagement_id, body=body, client_id=client_id
            )
        else:  # the message limit is checked in the post's own statement
            line = await apost_message(
                engagement_id=self.engagement_id, sender=Message.Sender.VISITOR, body=body, client_id=client_id
            )
        await self.acknowledge(line, ref=frame.get("ref"))

    async def handle_typing(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.signal_typing)(
            engagement_id=self.engagement_id, typing=bool(frame.get("typing"))
        )

    async def handle_end(self, frame: dict) -> None:
        await database_sync_to_async(engagement_services.end_engagement)(
            engagement_id=self.engagement_id, reason=Engagement.EndReason.VISITOR_LEFT
        )

    async def handle_resume(self, frame: dict) -> None:
        after = frame_int(frame, "last_seq")
        await self.send_catch_up(await catch_up(engagement_ids_after={self.engagement_id: after}))
