from django.core.management.base import BaseCommand

from helpdesk.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo sites, teams, queues, operators and logins (safe to run again)."

    def handle(self, *args, **options):
        logins = seed_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({len(logins)} logins)."))
