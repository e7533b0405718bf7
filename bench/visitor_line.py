"""A visitor's chat line as the socket posts it, with the message indexes before and after 0010.

The visitor's message limit is checked in the post's one statement (helpdesk/services/
messages_async.py): the limit-th latest visitor line of the engagement must be older than a
minute. Before migration 0010 the planner took the foreign key's own index on `engagement`,
read every line of the engagement and sorted them, once per visitor line: a line cost more the
longer the chat. 0010 drops that index (the unique (engagement, seq) serves its lookups) and adds
`message_visitor_lines`. This times the statement on chats of --lines lines of history (older than
the limit's minute) with the indexes as before and as after, switched between rounds, alternating:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_transfer_bench REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/visitor_line.py --rounds 40 --lines 200

It leaves the indexes as after when it ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import transfer_common as common  # noqa: E402

INDEX = "message_visitor_lines"
BEFORE_INDEX = "helpdesk_message_engagement_id_9ca5beac"  # the foreign key's own index, before 0010


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--lines", type=int, default=200, help="lines of history on each chat (default 200)")
    parser.add_argument("--posts", type=int, default=20, help="lines posted per variant and round (default 20)")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    common.setup_django()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from helpdesk.models import Message
    from helpdesk.services.messages_async import POST_VISITOR_LINE, VISITOR_WINDOW_SECONDS

    queue, alice, _ = common.make_company(stamp=f"line{int(time.time())}", initiator_capacity=args.posts + 5)
    chats = [
        common.engagement_owned_by(owner=alice, queue=queue, visitor_name=f"Line {n}", messages=args.lines).pk
        for n in range(args.posts)
    ]

    def age_history():
        """Every line an hour old, the bench's own too: no post meets the limit (60 a minute)."""
        Message.objects.filter(engagement_id__in=chats).update(created_at=timezone.now() - timedelta(hours=1))

    age_history()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE helpdesk_message")
    definition = next(index for index in Message._meta.indexes if index.name == INDEX)

    def after():
        age_history()
        with connection.schema_editor() as editor:
            editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
            editor.execute(f"DROP INDEX IF EXISTS {BEFORE_INDEX}")
            editor.add_index(Message, definition)

    def before():
        age_history()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {BEFORE_INDEX} ON helpdesk_message (engagement_id)")

    def post_lines():
        stored = 0
        with connection.cursor() as cursor:
            for engagement_id in chats:
                now = timezone.now()
                cursor.execute(
                    POST_VISITOR_LINE,
                    {
                        "engagement": engagement_id,
                        "sender": "visitor",
                        "operator": None,
                        "body": "A visitor's line",
                        "client_id": "",
                        "created_at": now,
                        "limit_offset": settings.VISITOR_MESSAGES_PER_MINUTE - 1,
                        "window_start": now - timedelta(seconds=VISITOR_WINDOW_SECONDS),
                    },
                )
                stored += cursor.fetchone() is not None
        return stored

    runs = {"post_lines": post_lines}
    try:
        times, results = common.time_alternating({"after": (after, runs), "before": (before, runs)}, rounds=args.rounds)
    finally:
        after()
    assert results["after"]["post_lines"] == results["before"]["post_lines"] == len(chats)
    figures = {
        "benchmark": "visitor_line",
        "rounds": args.rounds,
        "history_lines": args.lines,
        "chats": len(chats),
    }
    for variant, by_run in times.items():
        per_line = [ms * 1000 / len(chats) for ms in by_run["post_lines"]]
        figures[f"{variant}_us_per_line"] = common.summary(per_line)
    figures["p50_saved_percent"] = round(
        100 * (1 - figures["after_us_per_line"]["p50"] / figures["before_us_per_line"]["p50"]), 1
    )
    common.print_figures(
        figures, script_args=f"bench/visitor_line.py --rounds {args.rounds} --lines {args.lines}", json_path=args.json
    )


if __name__ == "__main__":
    main()
