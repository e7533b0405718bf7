"""The raw tables: for each model, its cells (header, source, kind), row order and the path to its site's zone."""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Coalesce

from reporting.metrics import Seconds

from .cells import Cell
from .rows import RawSpec


def _seconds(stop: str, start: str):
    return Seconds(F(stop), F(start))


ENGAGEMENTS = RawSpec(
    "helpdesk.Engagement",
    (
        Cell("id", "pk"),
        Cell("site", "site__name", "text"),
        Cell("queue", "queue__name", "text"),
        Cell("media", "media"),
        Cell("visitor", "visitor__name", "text"),
        Cell("phone_number", "visitor__phone_number", "text"),
        Cell("state", "state"),
        Cell("end_reason", "end_reason"),
        Cell("created_at", "created_at", "time"),
        Cell("answered_at", "answered_at", "time"),
        Cell("ended_at", "ended_at", "time"),
        Cell("wait_seconds", "wait", "seconds"),
        Cell("handle_seconds", "handle", "seconds"),
        Cell("operator", "owner__display_name", "text"),
    ),  # fmt: skip
    ("created_at", "pk"),
    "site__time_zone",
    lambda: {
        "wait": Seconds(Coalesce("answered_at", "ended_at"), F("created_at")),
        "handle": _seconds("ended_at", "answered_at"),
    },
)
MESSAGES = RawSpec(
    "helpdesk.Message",
    (
        Cell("engagement", "engagement_id"),
        Cell("seq", "seq"),
        Cell("sent_at", "created_at", "time"),
        Cell("sender", "sender"),
        Cell("operator", "operator__display_name", "text"),
        Cell("body", "body", "text"),
    ),  # fmt: skip
    ("engagement_id", "seq"),
    "engagement__site__time_zone",
)
NOTES = RawSpec(
    "helpdesk.Note",
    (
        Cell("id", "pk"),
        Cell("engagement", "engagement_id"),
        Cell("created_at", "created_at", "time"),
        Cell("source", "source"),
        Cell("author", "author__display_name", "text"),
        Cell("body", "body", "text"),
    ),  # fmt: skip
    ("engagement_id", "created_at", "pk"),
    "engagement__site__time_zone",
)
AVAILABILITY_LOG = RawSpec(
    "helpdesk.AvailabilityLog",
    (
        Cell("operator", "operator__display_name", "text"),
        Cell("media", "media"),
        Cell("status", "status"),
        Cell("started_at", "started_at", "time"),
        Cell("ended_at", "ended_at", "time"),
        Cell("seconds", "seconds", "seconds"),
    ),  # fmt: skip
    ("started_at", "pk"),
    "operator__site__time_zone",
    lambda: {"seconds": _seconds("ended_at", "started_at")},
)
TRANSFERS = RawSpec(
    "transfers.Transfer",
    (
        Cell("id", "pk"),
        Cell("engagement", "engagement_id"),
        Cell("initiator", "initiator__display_name", "text"),
        Cell("target_operator", "target_operator__display_name", "text"),
        Cell("target_queue", "target_queue__name", "text"),
        Cell("accepted_by", "accepted_by__display_name", "text"),
        Cell("state", "state"),
        Cell("end_reason", "end_reason"),
        Cell("decline_reason", "reason_text", "text"),
        Cell("requested_at", "requested_at", "time"),
        Cell("answered_at", "answered_at", "time"),
        Cell("completed_at", "completed_at", "time"),
        Cell("ended_at", "ended_at", "time"),
        Cell("time_to_answer_seconds", "to_answer", "seconds"),
    ),  # fmt: skip
    ("requested_at", "pk"),
    "engagement__site__time_zone",
    lambda: {"to_answer": _seconds("answered_at", "requested_at")},
)
CALLS = RawSpec(
    "telephony.Call",
    (
        Cell("id", "pk"),
        Cell("engagement", "engagement_id"),
        Cell("queue", "engagement__queue__name", "text"),
        Cell("caller", "engagement__visitor__name", "text"),
        Cell("phone_number", "engagement__visitor__phone_number", "text"),
        Cell("mode", "mode"),
        Cell("conferences", "conferences"),
        Cell("cold_transfers", "cold_transfers"),
        Cell("provider", "provider"),
        Cell("created_at", "engagement__created_at", "time"),
        Cell("answered_at", "engagement__answered_at", "time"),
        Cell("ended_at", "engagement__ended_at", "time"),
        Cell("end_reason", "engagement__end_reason"),
        Cell("wait_seconds", "wait", "seconds"),
        Cell("handle_seconds", "handle", "seconds"),
        Cell("operator", "engagement__owner__display_name", "text"),
    ),  # fmt: skip
    ("engagement__created_at", "pk"),
    "engagement__site__time_zone",
    lambda: {
        "wait": Seconds(Coalesce("engagement__answered_at", "engagement__ended_at"), F("engagement__created_at")),
        "handle": _seconds("engagement__ended_at", "engagement__answered_at"),
    },
)
LEGS = RawSpec(
    "telephony.Leg",
    (
        Cell("id", "pk"),
        Cell("call", "call_id"),
        Cell("kind", "kind"),
        Cell("operator", "operator__display_name", "text"),
        Cell("queue", "queue__name", "text"),
        Cell("phone_number", "phone_number", "text"),
        Cell("state", "state"),
        Cell("end_reason", "end_reason"),
        Cell("initiated_at", "initiated_at", "time"),
        Cell("ringing_at", "ringing_at", "time"),
        Cell("connected_at", "connected_at", "time"),
        Cell("held_at", "held_at", "time"),
        Cell("ended_at", "ended_at", "time"),
        Cell("ring_seconds", "ring", "seconds"),
        Cell("talk_seconds", "talk", "seconds"),
    ),  # fmt: skip
    ("call_id", "initiated_at", "pk"),
    "call__engagement__site__time_zone",
    lambda: {"ring": _seconds("connected_at", "initiated_at"), "talk": _seconds("ended_at", "connected_at")},
)
