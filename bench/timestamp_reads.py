"""Reads that carry many timestamps, with the product's timestamp loader and with Django's.

Django 5.2 parses every `timestamptz` in Python even with psycopg[binary]; the product's backend
(helpdesk/postgresql/base.py) parses them with psycopg's C loader. Two reads on the paths of
issue 16, each timed with both loaders on the same warm connection, alternating round by round:

- a chat's 200 lines as the console gets them (`message_frames_after`, the `engagement.detail` read),
- 300 transfers drawn for their frames (`drawn_transfers`, the bulk expiry's read).

It creates what it reads on first use (a company of its own in DATABASE_URL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_transfer_bench REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/timestamp_reads.py --rounds 40
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import transfer_common as common  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--transfers", type=int, default=300)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    common.setup_django()
    from django.db import connection
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from helpdesk.postgresql.base import timestamp_loader
    from helpdesk.selectors import message_frames_after
    from transfers import services
    from transfers.models import Transfer
    from transfers.selectors import drawn_transfers

    stamp = f"{int(time.time())}"
    queue, alice, bob = common.make_company(stamp=stamp, initiator_capacity=args.transfers + 5)
    chat = common.engagement_owned_by(owner=alice, queue=queue, visitor_name="Reads", messages=args.messages)
    ids = []
    for number in range(args.transfers):
        engagement = common.engagement_owned_by(owner=alice, queue=queue, visitor_name=f"Reads {number}")
        ids.append(
            services.request_transfer(
                engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk, warm_message="Bench"
            ).pk
        )

    connection.ensure_connection()
    adapters = connection.connection.adapters
    reads = {
        "chat_lines": lambda: message_frames_after(engagement_id=chat.pk, after_seq=0),
        "transfers_drawn": lambda: drawn_transfers(Transfer.objects.filter(pk__in=ids)),
    }
    times, results = common.time_alternating(
        {
            "product": (lambda: adapters.register_loader("timestamptz", timestamp_loader(connection.timezone)), reads),
            "django": (lambda: register_tzloader(connection.timezone, connection.connection), reads),
        },
        rounds=args.rounds,
    )
    # Both loaders read the same values.
    assert results["product"]["chat_lines"] == results["django"]["chat_lines"]
    assert [t.requested_at for t in results["product"]["transfers_drawn"]] == [
        t.requested_at for t in results["django"]["transfers_drawn"]
    ]
    figures = {"benchmark": "timestamp_reads", "rounds": args.rounds, "messages": args.messages}
    for read in reads:
        figures[read] = {loader: common.summary(times[loader][read]) for loader in times}
        figures[read]["p50_saved_percent"] = round(
            100 * (1 - figures[read]["product"]["p50"] / figures[read]["django"]["p50"]), 1
        )
    common.print_figures(figures, script_args=f"bench/timestamp_reads.py --rounds {args.rounds}", json_path=args.json)


if __name__ == "__main__":
    main()
