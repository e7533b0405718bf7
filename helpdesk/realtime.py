"""Delivery of realtime frames to sockets, after the transaction that caused them commits.

Every socket joins groups named here; each app's `events.py` builds frames and hands them
to `publish_to_operator` / `publish_to_engagement`. Consumers forward any `frame.send`
message to their client unchanged. The frames themselves are documented in docs/realtime.md.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def operator_group(operator_id: int) -> str:
    return f"operator.{operator_id}"


def engagement_group(engagement_id: int) -> str:
    """The visitor's (or caller's) side of an engagement."""
    return f"engagement.{engagement_id}"


def site_group(site_id: int) -> str:
    """Every operator console of a site: presence and queue overview changes."""
    return f"site.{site_id}"


def _send(group: str, frame: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "frame.send", "frame": frame})
    except Exception:  # a dead Redis must not undo a committed change; clients resume by seq
        logger.exception("Could not publish %s to %s", frame.get("type"), group)


def publish(group: str, frame: dict) -> None:
    """Send `frame` to `group` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(group, frame), robust=True)


def publish_to_operator(operator_id: int, frame: dict) -> None:
    publish(operator_group(operator_id), frame)


def publish_to_engagement(engagement_id: int, frame: dict) -> None:
    publish(engagement_group(engagement_id), frame)


def publish_to_site(site_id: int, frame: dict) -> None:
    publish(site_group(site_id), frame)
