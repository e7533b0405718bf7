"""WebSocket routes of live chat: the operator console's socket and the visitor's socket."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/operator/", consumers.OperatorConsumer.as_asgi()),
    path("ws/visitor/<str:token>/", consumers.VisitorConsumer.as_asgi()),
]
