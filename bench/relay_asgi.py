# isort: skip_file
"""The helpdesk's ASGI app plus a bare Channels relay, for bench/chat_latency.py.

`/ws/bench-relay/<room>/` joins group `bench-relay.<room>` and group-sends every text frame it
receives to that group, on the same channel layer as the chat: the floor a chat message's
delivery time can be compared with (no validation, no database, no rate limit).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

from helpdesk.asgi import http_app  # noqa: E402  (sets Django up first)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from helpdesk import ws_urls  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = f"bench-relay.{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.room, {"type": "frame.send", "frame": text_data})

    async def frame_send(self, message):
        await self.send(text_data=message["frame"])


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter([path("ws/bench-relay/<str:room>/", RelayConsumer.as_asgi())] + ws_urls.websocket_urlpatterns)
            )
        ),
    }
)
