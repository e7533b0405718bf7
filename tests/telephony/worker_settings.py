"""Settings for the Celery worker that must pick up what a SIGKILLed worker held (test_cleanup_worker).

Tasks are `acks_late`: a message a worker received is acknowledged only after the task ran. If
the worker dies first, the message stays unacknowledged in Redis and kombu makes it visible
again once it is older than the transport's `visibility_timeout` (60 s in helpdesk.settings),
checking every `unacked_restore_interval` × `unacked_restore_throttle` seconds. Only those waits
are shortened here, so that the redelivery happens within a test; the mechanism is production's.
"""

from tests.settings import *  # noqa: F403
from tests.settings import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "visibility_timeout": 4,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
