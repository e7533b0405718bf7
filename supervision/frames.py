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


def _today_figures(today: dict | None) -> dict:
    """The figures /reports/ computes for today (reporting.metrics rows), or zeros."""
    today = today or {}
    return {
        "answered": today.get("answered") or 0,
        "abandoned": today.get("abandoned") or 0,
        "service_level": today.get("service_level"),
        "asa": today.get("asa"),
    }


def queue_row(queue, *, today: dict | None, waiting: int, oldest) -> dict:
    return {
        "id": queue.pk,
        "name": queue.name,
        "site_id": queue.site_id,
        "media": queue.media,
        "service_level_seconds": queue.service_level_seconds,
        "service_level_target": queue.service_level_target_percent,
        "waiting": waiting,
        "oldest_queued_at": iso(oldest),
        **_today_figures(today),
    }


def site_row(site, *, today: dict | None, queues: list[dict], oldest_iso: str | None) -> dict:
    return {
        "id": site.pk,
        "name": site.name,
        "waiting": sum(q["waiting"] for q in queues),
        "oldest_queued_at": oldest_iso,
        **_today_figures(today),
    }


def operator_row(operator, availabilities: list) -> dict:
    """An operator's state per media: available / busy (load of capacity) / away / offline, and since when;
    `wrap_up` while they wrap a contact up there."""
    return {
        "id": operator.pk,
        "name": operator.display_name,
        "site_id": operator.site_id,
        "media": [
            {
                "media": a.media,
                "status": a.status,
                "load": a.load,
                "capacity": a.capacity,
                "wrap_up": a.wrap_ups > 0,  # in after-contact work: no new work on this media
                "since": iso(a.changed_at),
            }
            for a in sorted(availabilities, key=lambda a: a.media)
        ],
    }


def call_row(call, supervisor_legs: list) -> dict:
    """A live call on the wallboard: its mode and each supervisor's leg on it (role: listen, coach, barge)."""
    return {
        "id": call.pk,
        "mode": call.mode,
        "supervisors": [
            {"supervisor_id": leg.supervisor_id, "name": leg.party_name, "role": leg.role, "leg_id": leg.pk}
            for leg in supervisor_legs
        ],
    }


def live_row(engagement, *, watches: list[Watch], call: dict | None = None) -> dict:
    """A live engagement; `call` (see `call_row`) for a voice engagement that has its call, else null."""
    return {
        "id": engagement.pk,
        "site_id": engagement.site_id,
        "media": engagement.media,
        "state": engagement.state,
        "visitor": engagement.visitor.display_name if engagement.visitor_id else "",
        "queue": engagement.queue.name if engagement.queue_id else "",
        "owner_id": engagement.owner_id,
        "owner": engagement.owner.display_name if engagement.owner_id else "",
        "since": iso(engagement.answered_at or engagement.created_at),
        "watchers": [watcher_row(w) for w in watches],
        "call": call,
    }


def wallboard_frame(board: dict, *, at) -> dict:
    """The whole wallboard, sent on connect and again (debounced) after any change on the sites."""
    return {"type": "wallboard", "at": iso(at), **board}
