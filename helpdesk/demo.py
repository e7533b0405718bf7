"""Demo data for the run command: two sites, teams, queues, operators, managers, a superuser.

Idempotent: every row is found by its natural key first, so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .models import CannedResponse, Media, Operator, Queue, Site, Team
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
