"""The supervisor's socket (/ws/supervisor/): the live wallboard, and every act on a chat or a call.

Like the chat sockets it only parses frames, checks them, calls a service or selector and
forwards what the services publish. The wallboard is pushed, never polled: any frame on a
supervised site's group (queues, presence, watchers) schedules one fresh `wallboard` frame,
at most every WALLBOARD_DEBOUNCE seconds, read once for all of the process's sockets on the same
sites (supervision/boards.py). Every frame is in docs/realtime.md, "Supervisor socket".
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.utils import timezone

from helpdesk.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, ChatConsumer, frame_int
from helpdesk.errors import ChatError
from helpdesk.models import Engagement
from helpdesk.realtime import engagement_group, site_group
from helpdesk.selectors import engagement_detail
from telephony.events import call_group

from . import boards, frames, selectors, services, voice
from .boards import WALLBOARD_DEBOUNCE  # noqa: F401  (re-exported: the documented name)
from .events import supervisors_group, watchers_group
from .permissions import supervised_site_ids

OFF_THE_BOARD = {"typing", "note"}  # frames of watched chats that change nothing the wallboard shows


@database_sync_to_async
def wallboard_frame(user) -> dict:
    sites = selectors.supervised_sites(user)
    return frames.wallboard_frame(selectors.wallboard(sites=sites), at=timezone.now())


@database_sync_to_async
def monitor_snapshot(user, engagement_id: int) -> dict:
    """Start (or keep) the watch and read the whole history: the `engagement.detail` frame."""
    services.start_watching(supervisor=user, engagement_id=engagement_id)
    engagement = Engagement.objects.select_related("visitor", "queue", "owner").get(pk=engagement_id)
    return engagement_detail(engagement)


def frame_text(frame: dict, key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise ChatError("bad_frame", f"'{key}' must be text.")
    return value


class SupervisorConsumer(ChatConsumer):
    handlers = {
        "monitor.start": "handle_monitor_start",
        "monitor.stop": "handle_monitor_stop",
        "whisper": "handle_whisper",
        "barge": "handle_barge",
        "message.send": "handle_message_send",
        "take_over": "handle_take_over",
        "reassign": "handle_reassign",
        "force_offline": "handle_force_offline",
        "call.listen": "handle_call_role",
        "call.coach": "handle_call_role",
        "call.barge": "handle_call_role",
        "call.leave": "handle_call_leave",
        "call.take_over": "handle_call_take_over",
        "wallboard.refresh": "handle_wallboard_refresh",
        "ping": "handle_ping",
    }

    async def connect(self):
        await super().connect()
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.site_ids = await database_sync_to_async(supervised_site_ids)(self.user)
        if not self.site_ids:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for site_id in self.site_ids:
            await self.join(site_group(site_id))
            await self.join(supervisors_group(site_id))
        self.watching: set[int] = set()
        self.on_calls: set[int] = set()
        for call_id in await database_sync_to_async(selectors.calls_supervised_by)(self.user):
            await self.follow_call(call_id)
        await self.accept()
        await self.send_frame(await wallboard_frame(self.user))
        self.board = boards.join(self.site_ids, self, lambda text: self.send(text_data=text))

    async def disconnect(self, code):
        if getattr(self, "board", None) is not None:
            boards.leave(self.board, self)
        for engagement_id in list(getattr(self, "watching", ())):
            await database_sync_to_async(services.stop_watching)(supervisor=self.user, engagement_id=engagement_id)
        await super().disconnect(code)

    async def on_frame_forwarded(self, frame: dict) -> None:
        if frame.get("type") not in OFF_THE_BOARD and getattr(self, "board", None) is not None:
            self.board.request()

    async def handle_wallboard_refresh(self, frame: dict) -> None:
        await self.send_frame(await wallboard_frame(self.user))

    # --- monitoring ---------------------------------------------------------------------------

    async def handle_monitor_start(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        detail = await monitor_snapshot(self.user, engagement_id)
        if engagement_id not in self.watching:
            self.watching.add(engagement_id)
            await self.join(engagement_group(engagement_id))
            await self.join(watchers_group(engagement_id))
        messages = detail.get("messages") or []
        self.set_baseline(engagement_id, messages[-1]["seq"] if messages else 0)
        await self.send_frame({**detail, "ref": frame.get("ref")})

    async def handle_monitor_stop(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        await database_sync_to_async(services.stop_watching)(supervisor=self.user, engagement_id=engagement_id)
        if engagement_id in self.watching:
            self.watching.discard(engagement_id)
            for group in (engagement_group(engagement_id), watchers_group(engagement_id)):
                await self.channel_layer.group_discard(group, self.channel_name)
                self.joined.remove(group)
        await self.send_frame({"type": "monitor.stopped", "engagement_id": engagement_id, "ref": frame.get("ref")})

    # --- acts ---------------------------------------------------------------------------------

    async def answer(self, frame: dict, **fields) -> None:
        await self.send_frame({"type": "done", "act": frame["type"], "ref": frame.get("ref"), **fields})

    async def handle_whisper(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        note = await database_sync_to_async(services.whisper)(
            supervisor=self.user, engagement_id=engagement_id, body=frame.get("body")
        )
        await self.answer(frame, engagement_id=engagement_id, note_id=note.pk)

    async def handle_barge(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        await database_sync_to_async(services.join_conversation)(supervisor=self.user, engagement_id=engagement_id)
        await self.answer(frame, engagement_id=engagement_id)

    async def handle_message_send(self, frame: dict) -> None:
        """A line of a supervisor who joined the chat: acked with its seq, like an operator's."""
        engagement_id = frame_int(frame, "engagement_id")
        client_id = frame.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
            raise ChatError("bad_frame", "'client_id' must be text of at most 64 characters.")
        message = await database_sync_to_async(services.say_in_conversation)(
            supervisor=self.user, engagement_id=engagement_id, body=frame.get("body"), client_id=client_id
        )
        await self.send_frame(
            {
                "type": "message.ack",
                "engagement_id": engagement_id,
                "client_id": client_id,
                "seq": message.seq,
                "ref": frame.get("ref"),
            }
        )

    async def handle_take_over(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        expected = frame.get("expected_owner_id")
        if expected is not None:
            expected = frame_int(frame, "expected_owner_id")
        await database_sync_to_async(services.take_over)(
            supervisor=self.user, engagement_id=engagement_id, expected_owner_id=expected
        )
        await self.answer(frame, engagement_id=engagement_id)

    async def handle_reassign(self, frame: dict) -> None:
        engagement_id = frame_int(frame, "engagement_id")
        operator_id = frame_int(frame, "operator_id") if frame.get("operator_id") is not None else None
        queue_id = frame_int(frame, "queue_id") if frame.get("queue_id") is not None else None
        await database_sync_to_async(services.reassign)(
            supervisor=self.user, engagement_id=engagement_id, to_operator_id=operator_id, to_queue_id=queue_id
        )
        await self.answer(frame, engagement_id=engagement_id)

    # --- calls (supervision/voice.py) ----------------------------------------------------------

    async def follow_call(self, call_id: int) -> None:
        """Receive the call's `call.state` frames while on it (the wallboard draws our leg from them)."""
        if call_id not in self.on_calls:
            self.on_calls.add(call_id)
            await self.join(call_group(call_id))

    async def unfollow_call(self, call_id: int) -> None:
        if call_id in self.on_calls:
            self.on_calls.discard(call_id)
            await self.channel_layer.group_discard(call_group(call_id), self.channel_name)
            self.joined.remove(call_group(call_id))

    async def handle_call_role(self, frame: dict) -> None:
        call_id = frame_int(frame, "call_id")
        role = frame["type"].removeprefix("call.")
        # Follow before the act, so its own `call.state` (sent on commit) reaches this socket too.
        following = call_id in self.on_calls
        await self.follow_call(call_id)
        try:
            leg = await database_sync_to_async(voice.supervise)(supervisor=self.user, call_id=call_id, role=role)
        except Exception:
            if not following:
                await self.unfollow_call(call_id)
            raise
        await self.answer(frame, call_id=call_id, leg_id=leg.pk, role=leg.role)

    async def handle_call_leave(self, frame: dict) -> None:
        call_id = frame_int(frame, "call_id")
        await database_sync_to_async(voice.leave)(supervisor=self.user, call_id=call_id)
        await self.unfollow_call(call_id)
        await self.answer(frame, call_id=call_id)

    async def handle_call_take_over(self, frame: dict) -> None:
        call_id = frame_int(frame, "call_id")
        expected = frame_int(frame, "expected_owner_id") if frame.get("expected_owner_id") is not None else None
        await database_sync_to_async(voice.take_over)(supervisor=self.user, call_id=call_id, expected_owner_id=expected)
        await self.unfollow_call(call_id)  # the call is now on the supervisor's phone console
        await self.answer(frame, call_id=call_id)

    async def handle_force_offline(self, frame: dict) -> None:
        operator_id = frame_int(frame, "operator_id")
        requeued = await database_sync_to_async(services.force_offline)(supervisor=self.user, operator_id=operator_id)
        await self.answer(frame, operator_id=operator_id, requeued=requeued)
