"""Bulk or scheduled export of reporting datasets to CSV or XLSX files, with a progress bar.

    manage.py export_data engagements messages --start 2026-03-01 --end 2026-03-31 --format xlsx -o exports/
    manage.py export_data all --manager alice --days 1          # yesterday, the sites alice manages (cron)
    manage.py export_data engagements --site 3 -o - > eng.csv    # CSV to standard output

Scope: --manager limits to the sites that user may see in reports; --site narrows further
(and refuses a site the manager does not manage). With neither, every site is exported.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from helpdesk.models import Site
from reporting.exports import DATASETS, export_to_file
from reporting.scope import build_scope, sites_visible_to


class Command(BaseCommand):
    help = "Export reporting datasets (CSV or XLSX), scoped by --site / --manager, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("datasets", nargs="+", help=f"'all' or any of: {', '.join(DATASETS)}")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("-o", "--output", default=".", help="Directory for the files, or '-' for CSV on stdout.")
        parser.add_argument("--start", type=date.fromisoformat, help="First day (YYYY-MM-DD).")
        parser.add_argument("--end", type=date.fromisoformat, help="Last day, included (YYYY-MM-DD).")
        parser.add_argument("--days", type=int, help="The N whole days before today (for schedules).")
        parser.add_argument("--site", type=int, action="append", default=[], help="Site id (repeatable).")
        parser.add_argument("--manager", help="Username: only the sites this user manages.")
        parser.add_argument("--queue", type=int, action="append", default=[])
        parser.add_argument("--team", type=int, action="append", default=[])
        parser.add_argument("--operator", type=int, action="append", default=[])
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for cron logs).")

    def handle(self, *args, **options):
        names = list(DATASETS) if options["datasets"] == ["all"] else options["datasets"]
        unknown = [name for name in names if name not in DATASETS]
        if unknown:
            raise CommandError(f"Unknown dataset(s): {', '.join(unknown)}. Known: {', '.join(DATASETS)}")
        to_stdout = options["output"] == "-"
        if to_stdout and (options["format"] != "csv" or len(names) != 1):
            raise CommandError("Standard output takes one dataset as CSV.")
        scope = build_scope(
            sites=self._sites(options),
            start_date=options["start"],
            end_date=options["end"],
            site_ids=options["site"],
            queue_ids=options["queue"],
            team_ids=options["team"],
            operator_ids=options["operator"],
        )
        if options["days"]:
            today = timezone.now().astimezone(scope.zone).date()
            scope = build_scope(
                sites=self._sites(options),
                start_date=today - timedelta(days=options["days"]),
                end_date=today - timedelta(days=1),
                site_ids=options["site"],
                queue_ids=options["queue"],
                team_ids=options["team"],
                operator_ids=options["operator"],
            )
        if not scope.site_ids:
            raise CommandError("No site to export: check --site and --manager.")
        output = None if to_stdout else Path(options["output"])
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
        for name in names:
            dataset = DATASETS[name]
            target = sys.stdout.buffer if to_stdout else output / dataset.filename(scope, options["format"])
            bar = tqdm(
                total=dataset.count(scope),
                desc=name,
                unit=" rows",
                file=sys.stderr,
                disable=options["no_progress"],
                dynamic_ncols=True,
            )
            with bar:
                export_to_file(dataset, scope, fmt=options["format"], target=target, progress=bar.update)
            if not to_stdout:
                self.stderr.write(f"{name}: {bar.n} rows -> {target}")

    def _sites(self, options):
        if options["manager"]:
            user = get_user_model().objects.filter(username=options["manager"]).first()
            if user is None:
                raise CommandError(f"No user {options['manager']!r}.")
            sites = sites_visible_to(user)
            foreign = set(options["site"]) - set(sites.values_list("pk", flat=True))
            if foreign:
                raise CommandError(f"{options['manager']} does not manage site(s) {sorted(foreign)}.")
            return sites
        return Site.objects.all()
