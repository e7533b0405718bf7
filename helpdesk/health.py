"""Health checks: the database, the Redis channel layer (a real round trip) and a Celery worker."""

import dataclasses
import datetime
import uuid

from channels.layers import get_channel_layer
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class ChannelLayer(HealthCheck):
    """Send a message to a fresh channel and read it back through Redis."""

    timeout = datetime.timedelta(seconds=3)

    async def run(self):
        layer = get_channel_layer()
        try:
            # The pub/sub layer only delivers to a channel someone listens on: make ours first.
            channel = await layer.new_channel()
            token = uuid.uuid4().hex
            await layer.send(channel, {"type": "health.ping", "token": token})
            received = await layer.receive(channel)
        except Exception as error:
            raise ServiceUnavailable("Channel layer unreachable") from error
        if received.get("token") != token:
            raise ServiceUnavailable("Channel layer returned another message")


health_view = HealthCheckView.as_view(
    checks=[
        "health_check.checks.Database",
        "helpdesk.health.ChannelLayer",
        ("health_check.contrib.celery.Ping", {"timeout": datetime.timedelta(seconds=2)}),
    ]
)
