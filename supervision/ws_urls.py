"""WebSocket route of the supervisor's live console."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [path("ws/supervisor/", consumers.SupervisorConsumer.as_asgi())]
