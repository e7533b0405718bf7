"""WebSocket routes of every app, mounted by asgi.py."""

from supervision.ws_urls import websocket_urlpatterns as supervisor_patterns

from .chat_ws_urls import websocket_urlpatterns as chat_patterns

websocket_urlpatterns = chat_patterns + supervisor_patterns
