"""Frames sent from sync code with no server loop (a Celery worker's tasks), the product's way and
through async_to_sync, the way it was until d775897.

async_to_sync runs each send on a new event loop in a new thread, and the channel layer keeps its
Redis connection per loop, so every send connected afresh; the product now sends on one loop the
process keeps (`helpdesk.realtime._sender_loop`). Timed, alternating round by round, in this
process (which has no server loop, like a worker): one frame (`realtime.send`) and the bulk
expiry's 600 frames to 300 initiators and targets (`realtime.publish_many`, one pipeline).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_transfer_bench REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/worker_sends.py --rounds 40

hiredis (requirements.txt) speeds both ways' pipelines; `pip uninstall hiredis` for a run shows its share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import transfer_common as common  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    common.setup_django()
    from asgiref.sync import async_to_sync
    from redis.utils import HIREDIS_AVAILABLE

    from helpdesk import realtime

    # A transfer.updated frame of the size the expiry sends (its payload's fields, typical values).
    frame = {
        "type": "transfer.updated",
        "transfer": {
            "id": 1, "state": "expired", "state_label": "Expired", "visitor_name": "Visitor 12",
            "initiator_name": "Alice Bench", "target_name": "Bob Bench", "warm_message": "Bench",
            "requested_at": "2026-12-07T23:59:59.999999+00:00", "ended_at": "2026-12-07T23:59:59.999999+00:00",
            "end_reason": "not_answered", "end_reason_label": "Not answered",
        },
    }  # fmt: skip
    pairs = [(realtime.operator_group(990_000 + n % 2), dict(frame, n=n)) for n in range(600)]
    wrapped = [(group, {"type": "frame.send", "frame": f}) for group, f in pairs]
    nothing = lambda: None  # noqa: E731
    times, _ = common.time_alternating(
        {
            "product": (
                nothing,
                {
                    "one_frame": lambda: realtime.send(realtime.operator_group(990_000), frame),
                    "600_frames": lambda: realtime.publish_many(pairs),  # outside a transaction: sent at once
                },
            ),
            "async_to_sync": (
                nothing,
                {
                    "one_frame": lambda: async_to_sync(realtime.group_send)(
                        realtime.operator_group(990_000), {"type": "frame.send", "frame": frame}
                    ),
                    "600_frames": lambda: async_to_sync(realtime.group_send_many)(wrapped),
                },
            ),
        },
        rounds=args.rounds,
    )
    figures = {"benchmark": "worker_sends", "rounds": args.rounds, "hiredis": HIREDIS_AVAILABLE}
    for way, sends in times.items():
        figures[way] = {send: common.summary(values) for send, values in sends.items()}
    common.print_figures(figures, script_args=f"bench/worker_sends.py --rounds {args.rounds}", json_path=args.json)


if __name__ == "__main__":
    main()
