"""Posting a chat line from a socket on the event loop itself (see helpdesk/async_db.py for why),
and reading the lines a socket must fill in when seqs reach it out of order.

The same rule as `engagements.post_message`, which stays the one entry point for sync code:
an operator writes only on an engagement they own, nobody on an ended one; the seq comes
from an UPDATE ... RETURNING that holds the engagement's row lock until commit (gap-free,
unique); the message is committed, then published (in the background: the socket answers its
sender at once, whatever Redis does). A line whose client id is already stored on the engagement
is not stored again and spends no seq: the stored one comes back as a duplicate.

A lost database connection: the pool hands out only connections it checked alive before
sending, so a failover costs no chat line; a connection lost after the statement was sent is
not re-run (it may have committed) but raised, and the socket refuses the line with an error
frame the client may resend (helpdesk/async_db.py explains why).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from django.conf import settings
from django.utils import timezone

from .. import async_db, events, frames, selectors
from ..errors import ChatError, NotAllowed
from ..models import Engagement, Message, Operator, Ownership
from .engagements import clean_client_id, clean_text

ENGAGEMENTS = Engagement._meta.db_table
MESSAGES = Message._meta.db_table
OPERATORS = Operator._meta.db_table
OWNERSHIPS = Ownership._meta.db_table
VISITOR_WINDOW_SECONDS = 60

# One statement, run in autocommit: one round trip per chat line. The UPDATE takes the
# engagement's row lock and the next seq; the INSERT (and, for the owner, the read mark)
# commit with it or not at all. No row back means nothing was written; a client id stored
# already fails the INSERT (unique constraint), which undoes the UPDATE with it.
POST_LINE = (
    f"WITH next AS (UPDATE {ENGAGEMENTS} SET last_seq = last_seq + 1"
    f" WHERE id = %(engagement)s AND state <> 'ended' {{owner_clause}} RETURNING id, last_seq, owner_id)"
    "{read_mark}"
    f" INSERT INTO {MESSAGES} (engagement_id, seq, sender, operator_id, body, client_id, created_at)"
    " SELECT id, last_seq, %(sender)s, %(operator)s, %(body)s, %(client_id)s, %(created_at)s FROM next"
    " RETURNING seq, (SELECT owner_id FROM next)"
)
# The visitor's message limit (VISITOR_MESSAGES_PER_MINUTE in any 60 s) is checked in the same
# statement, instead of a Redis round trip before it (a third of a visitor line's CPU, measured in
# docs/performance.md): the line is refused when the limit-th latest visitor line is younger than
# the window: one backward probe of the index of visitor lines (`message_visitor_lines`, migration
# 0010; without it the planner read the whole chat). The subquery reads the statement's snapshot,
# so two lines of one visitor racing at the limit may both pass: a limit, not a ledger.
VISITOR_LIMIT_CLAUSE = (
    f"AND coalesce((SELECT created_at FROM {MESSAGES} WHERE engagement_id = %(engagement)s"
    " AND sender = 'visitor' ORDER BY seq DESC OFFSET %(limit_offset)s LIMIT 1) <= %(window_start)s, true)"
)
POST_VISITOR_LINE = POST_LINE.format(owner_clause=VISITOR_LIMIT_CLAUSE, read_mark="")
POST_OWNER_LINE = POST_LINE.format(
    owner_clause="AND owner_id = %(operator)s",
    read_mark=(
        f", read AS (UPDATE {OWNERSHIPS} SET last_read_seq = next.last_seq FROM next"
        f" WHERE {OWNERSHIPS}.engagement_id = next.id AND {OWNERSHIPS}.ended_at IS NULL)"
    ),
)
STORED_LINE = (
    f"SELECT m.seq, m.sender, coalesce(o.display_name, ''), m.body, m.created_at FROM {MESSAGES} m"
    f" LEFT JOIN {OPERATORS} o ON o.id = m.operator_id WHERE m.engagement_id = %s AND m.client_id = %s"
)
WHY_NOT = f"SELECT state, owner_id FROM {ENGAGEMENTS} WHERE id = %s"


@dataclass(frozen=True)
class PostedLine:
    """A chat line as stored: its `message` frame, and whether an earlier send had stored it already."""

    frame: dict
    duplicate: bool


async def apost_message(
    *,
    engagement_id: int,
    sender: str,
    body: object,
    operator: Operator | None = None,
    client_id: str | None = None,
) -> PostedLine:
    """Store a chat line with the next seq, commit, publish it in the background; returns it."""
    body = clean_text(body)
    client_id = clean_client_id(client_id)
    as_owner = sender == Message.Sender.OPERATOR
    if as_owner and operator is None:
        raise NotAllowed("not_owner", "You do not own this engagement.")
    created_at = timezone.now()
    params = {
        "engagement": engagement_id,
        "sender": sender,
        "operator": operator.pk if operator else None,
        "body": body,
        "client_id": client_id,
        "created_at": created_at,
    }
    if not as_owner:
        params["limit_offset"] = settings.VISITOR_MESSAGES_PER_MINUTE - 1
        params["window_start"] = created_at - timedelta(seconds=VISITOR_WINDOW_SECONDS)
    async with async_db.connection() as connection:
        try:
            cursor = await connection.execute(POST_OWNER_LINE if as_owner else POST_VISITOR_LINE, params)
            row = await cursor.fetchone()
        except psycopg.errors.UniqueViolation:  # this client id is stored already
            row = None
        if row is None:
            stored = await astored_line(connection, engagement_id=engagement_id, client_id=client_id)
            if stored is not None:
                return PostedLine(frame=stored, duplicate=True)
            raise await why_not_posted(connection, engagement_id=engagement_id, as_owner=as_owner, operator=operator)
    seq, owner_id = row
    frame = frames.message_frame_of(
        engagement_id=engagement_id,
        seq=seq,
        sender=sender,
        sender_name=operator.display_name if operator else "",
        body=body,
        created_at=created_at,
        client_id=client_id,
    )
    events.message_created_soon(frame, owner_id=owner_id)
    return PostedLine(frame=frame, duplicate=False)


async def astored_line(connection, *, engagement_id: int, client_id: str) -> dict | None:
    """The `message` frame of the line stored under this client id on the engagement, if any."""
    if not client_id:
        return None
    row = await (await connection.execute(STORED_LINE, (engagement_id, client_id))).fetchone()
    if row is None:
        return None
    seq, sender, sender_name, body, created_at = row
    return frames.message_frame_of(
        engagement_id=engagement_id,
        seq=seq,
        sender=sender,
        sender_name=sender_name,
        body=body,
        created_at=created_at,
        client_id=client_id,
    )


async def why_not_posted(connection, *, engagement_id: int, as_owner: bool, operator: Operator | None) -> Exception:
    row = await (await connection.execute(WHY_NOT, (engagement_id,))).fetchone()
    if row is None:
        return Engagement.DoesNotExist(f"No engagement {engagement_id}.")
    state, owner_id = row
    if as_owner and owner_id != operator.pk:
        return NotAllowed("not_owner", "You do not own this engagement.")
    if not as_owner and state != Engagement.State.ENDED:
        return ChatError("rate_limited", "You are sending messages too fast; wait a moment.")
    return ChatError("ended", "This conversation has ended.")


async def amessage_frames_between(*, engagement_id: int, after_seq: int, before_seq: int) -> list[dict]:
    """`selectors.message_frames_after(...)` between two seqs, read on the event loop.

    A socket fills a gap in the seqs it forwards with this (ChatConsumer.forward_message). It is
    on the hot path once deliveries run late: every late line makes the next one arrive early.
    Through Django's one sync thread, each fill queued behind the others (~1.5 ms each, half of it
    compiling the query), and two Daphnes at 800 lines a second fell 20 s behind, catching up
    only when the load stopped (docs/performance.md). Here it is one pooled round trip.
    """
    sql, params = between_statement(engagement_id=engagement_id, after_seq=after_seq, before_seq=before_seq)
    async with async_db.connection() as connection:
        rows = await (await connection.execute(sql, params)).fetchall()
    return selectors.message_frames_of_rows(engagement_id, rows)


# Stand-ins for the three values while the query is compiled, found again among its parameters
# (in range: Django compiles an out-of-range integer lookup away).
_MARKS = (2_000_000_001, 2_000_000_002, 2_000_000_003)


@functools.cache
def _between_template() -> tuple[str, tuple, tuple[int, int, int]]:
    """`selectors.message_rows`' SQL, compiled once, and where its three values go in the parameters.

    The query stays defined in one place (the sender's name rule included); Django takes ~0.8 ms
    to compile it, more than the database takes to answer it.
    """
    engagement, after, before = _MARKS
    query = selectors.message_rows(engagement_id=engagement, after_seq=after, before_seq=before).query
    sql, params = query.sql_with_params()
    slots = tuple(params.index(mark) for mark in _MARKS)
    if any(params.count(mark) != 1 for mark in _MARKS):
        raise RuntimeError("message_rows' parameters changed shape; see _between_template")
    return sql, params, slots


def between_statement(*, engagement_id: int, after_seq: int, before_seq: int) -> tuple[str, list]:
    sql, template, slots = _between_template()
    params = list(template)
    for slot, value in zip(slots, (engagement_id, after_seq, before_seq), strict=True):
        params[slot] = type(template[slot])(value)  # keeps Django's integer type hints (Int4)
    return sql, params
