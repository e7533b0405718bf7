"""Publishing supervision's frames (built in frames.py), on commit."""

from __future__ import annotations

from helpdesk.frames import name_of_user, note_frame
from helpdesk.models import Engagement, Note, Operator
from helpdesk.realtime import publish, publish_to_operator

from . import frames
from .selectors import open_watches_of


def supervisors_group(site_id: int) -> str:
    """Every supervisor socket of a site."""
    return f"supervision.site.{site_id}"


def watchers_group(engagement_id: int) -> str:
    """Supervisor sockets watching one engagement: whispers and the watcher list reach them here
    (chat lines reach them through the engagement's own group, which they join while watching)."""
    return f"supervision.watch.{engagement_id}"


def watchers_changed(engagement: Engagement) -> None:
    """Read after commit would be more exact; read now inside the act's transaction, which is what commits."""
    frame = frames.watchers_frame(engagement.pk, watches=open_watches_of(engagement_id=engagement.pk))
    if engagement.owner_id:
        publish_to_operator(engagement.owner_id, frame)
    publish(supervisors_group(engagement.site_id), frame)


def whispered(note: Note) -> None:
    """The core sends the note to the owner; the other supervisors watching see it too."""
    publish(watchers_group(note.engagement_id), note_frame(note))


def taken_over(engagement: Engagement, *, previous_owner_id: int, by: Operator) -> None:
    frame = frames.taken_over_frame(engagement.pk, by_name=by.display_name)
    publish_to_operator(previous_owner_id, frame)
    publish(supervisors_group(engagement.site_id), frame)  # watchers are the site's supervisors: once is enough


def forced_offline(operator: Operator, *, by) -> None:
    publish_to_operator(operator.pk, frames.forced_offline_frame(by_name=name_of_user(by)))
