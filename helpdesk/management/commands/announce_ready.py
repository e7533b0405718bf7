import signal
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from helpdesk.demo import DEMO_PASSWORD, SITES


class Command(BaseCommand):
    help = "Wait until /health/ is green, then print the URL and the demo logins (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None)
        parser.add_argument("--timeout", type=float, default=120)

    def handle(self, *args, url, timeout, **options):
        import os

        url = url or f"http://127.0.0.1:{os.environ.get('HELPDESK_PORT', '8000')}"
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health/?format=json", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(1)
        else:
            self.stderr.write(f"Not healthy after {timeout:.0f}s ({last_error}); see {url}/health/")
            # Stay anyway: honcho stops every process when one exits, which would take down the
            # web, worker and beat processes that may only be slow to start, or worth inspecting.
            signal.pause()
            return
        lines = [
            "",
            f"Helpdesk is up at {url}/  (admin: {url}/admin/, health: {url}/health/)",
            f"Database: {settings.DATABASES['default']['NAME']}",
            f"Every demo login uses the password: {DEMO_PASSWORD}",
            "  admin            superuser",
        ]
        for site, spec in SITES.items():
            lines.append(f"  {spec['manager']:<16} manager of {site}")
            for username, _name, teams in spec["operators"]:
                lines.append(f"  {username:<16} operator, {site} ({', '.join(teams)})")
        lines += [
            f"Operators: {url}/console/ (chat)  {url}/phone/ (calls)   Managers: {url}/reports/",
            f"Visitor chat: {url}/chat/"
            + (f"   Caller simulator: {url}/phone/simulator/" if settings.TELEPHONY_SIMULATOR else ""),
            "Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
        signal.pause()  # honcho stops every process when one exits: stay until Ctrl-C
