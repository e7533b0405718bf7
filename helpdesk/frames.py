"""Every realtime frame of the core (chat, presence, queues), built from rows already read.

Pure: each function takes model instances or values and returns the frame's dict; nothing here
reads the database or sends anything (reads are in selectors.py, publishing in events.py).
Frame names and fields match docs/realtime.md.
"""

from __future__ import annotations

from datetime import datetime

from .models import Availability, DispositionCode, Engagement, Message, Note, Operator, Ownership, WrapUp


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def message_frame_of(
    *,
    engagement_id: int,
    seq: int,
    sender: str,
    sender_name: str,
    body: str,
    created_at: datetime,
    client_id: str = "",
) -> dict:
    return {
        "type": "message",
        "engagement_id": engagement_id,
        "seq": seq,
        "sender": sender,
        "sender_name": sender_name,
        "body": body,
        "created_at": created_at.isoformat(),
        "client_id": client_id,
    }


def name_of_user(user) -> str:
    """How a user who is not acting as the owner (a supervisor) is named to others: their operator
    name if they have one, else their full name, else their username."""
    operator = getattr(user, "operator", None)
    if operator is not None:
        return operator.display_name
    return user.get_full_name().strip() or user.get_username()


def message_frame(message: Message) -> dict:
    if message.operator_id:
        sender_name = message.operator.display_name
    elif message.supervisor_id:
        sender_name = name_of_user(message.supervisor)
    else:
        sender_name = ""
    return message_frame_of(
        engagement_id=message.engagement_id,
        seq=message.seq,
        sender=message.sender,
        sender_name=sender_name,
        body=message.body,
        created_at=message.created_at,
        client_id=message.client_id,
    )


def message_ack_frame(*, engagement_id: int, client_id: str, seq: int, duplicate: bool, ref) -> dict:
    """To the socket that sent a line: it is stored as `seq` (`duplicate`: it already was, from an earlier send)."""
    return {
        "type": "message.ack",
        "engagement_id": engagement_id,
        "client_id": client_id,
        "seq": seq,
        "duplicate": duplicate,
        "ref": ref,
    }


def engagement_summary(engagement: Engagement) -> dict:
    return {
        "id": engagement.pk,
        "media": engagement.media,
        "state": engagement.state,
        "queue": engagement.queue.name,
        "queue_id": engagement.queue_id,
        "visitor_name": engagement.visitor.display_name,
        "owner_id": engagement.owner_id,
        "owner_name": engagement.owner.display_name if engagement.owner_id else "",
        "last_seq": engagement.last_seq,
        "kind": engagement.kind,
    }


def note_frame(note: Note) -> dict:
    return {
        "type": "note",
        "engagement_id": note.engagement_id,
        "id": note.pk,
        "author_name": (
            note.author.display_name
            if note.author_id
            else name_of_user(note.supervisor)
            if note.supervisor_id
            else "System"
        ),
        "source": note.source,
        "body": note.body,
        "created_at": note.created_at.isoformat(),
    }


def ownership_frame(ownership: Ownership) -> dict:
    return {
        "operator_id": ownership.operator_id,
        "operator_name": ownership.operator.display_name,
        "started_at": ownership.started_at.isoformat(),
        "started_because": ownership.started_because,
        "ended_at": iso(ownership.ended_at),
        "ended_because": ownership.ended_because,
        "ended_because_label": ownership.get_ended_because_display(),
    }


def engagement_detail_frame(
    engagement: Engagement, *, messages: list[dict], notes: list[Note], owners: list[Ownership]
) -> dict:
    """Everything a console shows of one engagement: the whole history, notes and owners."""
    return {
        "type": "engagement.detail",
        "engagement": engagement_summary(engagement),
        "queued_at": engagement.queued_at.isoformat(),
        "answered_at": iso(engagement.answered_at),
        "messages": messages,
        "notes": [note_frame(note) for note in notes],
        "owners": [ownership_frame(owner) for owner in owners],
    }


def typing_of_visitor_frame(engagement_id: int, *, typing: bool) -> dict:
    return {"type": "typing", "engagement_id": engagement_id, "who": "visitor", "typing": typing}


def typing_of_operator_frame(operator: Operator, *, typing: bool) -> dict:
    return {"type": "typing", "who": "operator", "name": operator.display_name, "typing": typing}


def engagement_assigned_frame(engagement: Engagement, *, detail_follows: bool) -> dict:
    return {
        "type": "engagement.assigned",
        "engagement": engagement_summary(engagement),
        "detail_follows": detail_follows,
    }


def engagement_state_frame(engagement: Engagement, *, operator_name: str | None = None) -> dict:
    """The visitor's side: who is with them now, or why it ended."""
    if operator_name is not None:
        return {"type": "engagement.state", "state": engagement.state, "operator_name": operator_name}
    return {"type": "engagement.state", "state": engagement.state, "reason": engagement.end_reason}


def engagement_released_frame(engagement_id: int, *, reason: str) -> dict:
    return {"type": "engagement.released", "engagement_id": engagement_id, "reason": reason}


def engagement_ended_frame(engagement: Engagement) -> dict:
    return {"type": "engagement.ended", "engagement_id": engagement.pk, "reason": engagement.end_reason}


def availability_frame(availability: Availability, *, operator_id: int) -> dict:
    return {
        "type": "availability",
        "operator_id": operator_id,
        "media": availability.media,
        "status": availability.status,
        "load": availability.load,
        "capacity": availability.capacity,
        "wrap_ups": availability.wrap_ups,
    }


def code_payload(code: DispositionCode) -> dict:
    return {"id": code.pk, "code": code.code, "name": code.name}


def wrap_up_payload(wrap_up: WrapUp, *, codes: list[DispositionCode], now: datetime) -> dict:
    """The wrap-up panel: what it is about, how it may end, the countdown, the codes to pick from."""
    queue = wrap_up.queue
    return {
        "id": wrap_up.pk,
        "engagement_id": wrap_up.engagement_id,
        "visitor_name": wrap_up.engagement.visitor.display_name,
        "queue_name": queue.name,
        "media": wrap_up.media,
        "mode": wrap_up.mode,
        "can_skip": wrap_up.mode == WrapUp.Mode.OPTIONAL,
        "disposition_required": queue.disposition_required,
        "started_at": iso(wrap_up.started_at),
        "deadline": iso(wrap_up.deadline),
        "seconds_left": max(0.0, (wrap_up.deadline - now).total_seconds()) if wrap_up.deadline else None,
        "codes": [code_payload(code) for code in codes],
        "disposition_id": wrap_up.disposition_id,
        "default_disposition_id": queue.default_disposition_id,
        "ended_at": iso(wrap_up.ended_at),
        "ended_because": wrap_up.ended_because,
    }


def wrap_up_started_frame(payload: dict) -> dict:
    return {"type": "wrap_up.started", "wrap_up": payload}


def wrap_up_ended_frame(wrap_up: WrapUp) -> dict:
    return {
        "type": "wrap_up.ended",
        "wrap_up_id": wrap_up.pk,
        "engagement_id": wrap_up.engagement_id,
        "ended_because": wrap_up.ended_because,
        "disposition": code_payload(wrap_up.disposition) if wrap_up.disposition_id else None,
    }


def queues_frame(site_id: int, *, queues: list[dict]) -> dict:
    return {"type": "queues.changed", "site_id": site_id, "queues": queues}


def queue_position_frame(*, position: int, queued_at: str, estimated_wait_minutes: int | None = None) -> dict:
    """A waiting visitor's place in line and "about N min" (None: cannot be estimated now)."""
    return {
        "type": "queue.position",
        "position": position,
        "queued_at": queued_at,
        "estimated_wait_minutes": estimated_wait_minutes,
    }


def session_ended_frame() -> dict:
    return {"type": "session.ended"}
