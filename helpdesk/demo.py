"""Demo data for the run command: two sites, teams, queues (one with business hours, one with an
overflow), operators, managers, a superuser.

Idempotent: every row is found by its natural key first, so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from .models import (
    CannedResponse,
    DispositionCode,
    Holiday,
    Media,
    OpeningSlot,
    Operator,
    Queue,
    QueueHours,
    QueueOverflow,
    Site,
    Team,
)
from .services.presence import ensure_availabilities

DEMO_PASSWORD = "demo-pass-123"

SITES = {
    "London": {
        "time_zone": "Europe/London",
        "teams": ["Sales", "Support"],
        "queues": [
            ("General chat", Media.CHAT, ["Sales", "Support"], True),
            ("Billing chat", Media.CHAT, ["Support"], False),
            ("Sales line", Media.VOICE, ["Sales"], True),
            ("Resolution Specialists", Media.VOICE, ["Support"], False),
        ],
        "operators": [
            ("alice", "Alice Archer", ["Sales", "Support"]),
            ("bob", "Bob Baker", ["Support"]),
            ("carol", "Carol Chen", ["Sales"]),
        ],
        "manager": "manager.london",
    },
    "Lisbon": {
        "time_zone": "Europe/Lisbon",
        "teams": ["Support", "Escalations"],
        "queues": [
            ("Suporte chat", Media.CHAT, ["Support"], True),
            ("Escalations line", Media.VOICE, ["Escalations"], True),
        ],
        "operators": [
            ("diogo", "Diogo Dias", ["Support"]),
            ("eva", "Eva Esteves", ["Support", "Escalations"]),
        ],
        "manager": "manager.lisbon",
    },
}


# Canned replies per site: (shortcut, title, body, queue name or None for every queue).
CANNED = {
    "London": [
        ("hello", "Greeting", "Hello {visitor}, I'm {operator}. How can I help you today?", None),
        ("moment", "One moment", "Thanks, {visitor}. Give me a moment while I look into this.", None),
        ("bye", "Closing", "Is there anything else I can help with? Thanks for chatting with us!", None),
        (
            "invoice",
            "Invoice copy",
            "You can download every invoice under Account → Billing → Invoices.",
            "Billing chat",
        ),
    ],
    "Lisbon": [
        ("ola", "Saudação", "Olá {visitor}, sou {operator}. Como posso ajudar?", None),
    ],
}


# Business hours and overflow (issue 14.4): Billing chat is open on weekdays 08:00-20:00 London time
# and closed on Christmas Day; General chat also offers its waiting chats to Billing chat after 2 min.
HOURS = {("London", "Billing chat"): {"time_zone": "Europe/London", "weekdays": range(5), "open": (8, 20)}}
HOLIDAYS = {("London", "Billing chat"): [(12, 25, "Christmas Day")]}
OVERFLOW = {("London", "General chat"): ("Billing chat", 120)}


def _seed_hours(site: Site) -> None:
    for (site_name, queue_name), spec in HOURS.items():
        if site_name != site.name:
            continue
        queue = Queue.objects.get(site=site, name=queue_name)
        QueueHours.objects.get_or_create(queue=queue, defaults={"time_zone": spec["time_zone"]})
        opens, closes = spec["open"]
        for weekday in spec["weekdays"]:
            OpeningSlot.objects.get_or_create(
                queue=queue, weekday=weekday, opens_at=time(opens), defaults={"closes_at": time(closes)}
            )
        for month, day, name in HOLIDAYS.get((site_name, queue_name), []):
            Holiday.objects.get_or_create(
                queue=queue, date=date(timezone.now().year, month, day), defaults={"name": name}
            )
    for (site_name, queue_name), (overflow_name, seconds) in OVERFLOW.items():
        if site_name == site.name:
            QueueOverflow.objects.get_or_create(
                queue=Queue.objects.get(site=site, name=queue_name),
                defaults={"overflow_queue": Queue.objects.get(site=site, name=overflow_name), "after_seconds": seconds},
            )


# After-contact work (issue 14.1-2): General chat wraps up for 60 s at most (the default code when
# time runs out) and gives transfer reasons; Billing chat's wrap-up is mandatory, with a disposition.
WRAP_UP = {
    ("London", "General chat"): {"mode": "timed", "seconds": 60, "required": False},
    ("London", "Billing chat"): {"mode": "mandatory", "seconds": 60, "required": True},
}
DISPOSITIONS = [("resolved", "Resolved"), ("follow-up", "Follow-up needed"), ("no-outcome", "No outcome")]
TRANSFER_REASONS = [("billing", "Needs billing"), ("language", "Another language"), ("escalate", "Escalation")]


def _seed_wrap_up(site: Site) -> None:
    for (site_name, queue_name), spec in WRAP_UP.items():
        if site_name != site.name:
            continue
        queue = Queue.objects.get(site=site, name=queue_name)
        for kind, codes in (
            (DispositionCode.Kind.DISPOSITION, DISPOSITIONS),
            (DispositionCode.Kind.TRANSFER, TRANSFER_REASONS),
        ):
            for order, (code, name) in enumerate(codes):
                DispositionCode.objects.get_or_create(
                    queue=queue, kind=kind, code=code, defaults={"name": name, "order": order}
                )
        if queue.wrap_up_mode == "none":
            queue.wrap_up_mode, queue.wrap_up_seconds = spec["mode"], spec["seconds"]
            queue.disposition_required = spec["required"]
            queue.default_disposition = DispositionCode.objects.get(queue=queue, kind="disposition", code="no-outcome")
            queue.save(update_fields=["wrap_up_mode", "wrap_up_seconds", "disposition_required", "default_disposition"])


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    password: str


def _user(username: str, *, email: str, **flags) -> object:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email, **flags})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def seed_demo() -> list[Login]:
    logins = [Login("superuser", "admin", DEMO_PASSWORD)]
    _user("admin", email="admin@example.com", is_staff=True, is_superuser=True)
    managers, _ = Group.objects.get_or_create(name="Managers")
    for site_name, spec in SITES.items():
        site, _ = Site.objects.get_or_create(name=site_name, defaults={"time_zone": spec["time_zone"]})
        teams = {name: Team.objects.get_or_create(site=site, name=name)[0] for name in spec["teams"]}
        for name, media, team_names, is_default in spec["queues"]:
            queue, created = Queue.objects.get_or_create(
                site=site, name=name, defaults={"media": media, "is_default": is_default}
            )
            if created:
                queue.teams.set([teams[t] for t in team_names])
        _seed_hours(site)
        _seed_wrap_up(site)
        for shortcut, title, body, queue_name in CANNED.get(site_name, []):
            queue = Queue.objects.get(site=site, name=queue_name) if queue_name else None
            CannedResponse.objects.get_or_create(
                site=site, queue=queue, shortcut=shortcut, defaults={"title": title, "body": body}
            )
        manager = _user(spec["manager"], email=f"{spec['manager']}@example.com", is_staff=True)
        manager.groups.add(managers)
        site.managers.add(manager)
        logins.append(Login(f"manager of {site_name}", manager.username, DEMO_PASSWORD))
        for username, display_name, team_names in spec["operators"]:
            user = _user(username, email=f"{username}@example.com")
            operator, created = Operator.objects.get_or_create(
                user=user, defaults={"site": site, "display_name": display_name}
            )
            if created:
                operator.teams.set([teams[t] for t in team_names])
            ensure_availabilities(operator=operator)
            logins.append(Login(f"operator, {site_name} ({', '.join(team_names)})", username, DEMO_PASSWORD))
    return logins
