"""Every realtime frame of supervision, built from rows already read (pure). Documented in
docs/realtime.md, "Supervisor socket"."""

from __future__ import annotations

from helpdesk.frames import iso, name_of_user

from .models import Watch


def watcher_row(watch: Watch) -> dict:
    return {
        "supervisor_id": watch.supervisor_id,
        "name": name_of_user(watch.supervisor),
        "mode": watch.mode,
        "since": iso(watch.started_at),
    }


def watchers_frame(engagement_id: int, *, watches: list[Watch]) -> dict:
    """Who watches (or is in) an engagement now: to its owner's console and to the site's supervisors."""
    return {
        "type": "engagement.watchers",
        "engagement_id": engagement_id,
        "watchers": [watcher_row(w) for w in watches],
    }


def taken_over_frame(engagement_id: int, *, by_name: str) -> dict:
    return {"type": "supervision.taken_over", "engagement_id": engagement_id, "by_name": by_name}


def forced_offline_frame(*, by_name: str) -> dict:
    return {"type": "supervision.forced_offline", "by_name": by_name}
