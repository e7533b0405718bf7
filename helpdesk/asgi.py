"""One ASGI application for HTTP and WebSockets, served by Daphne."""

import os

from django.core.asgi import get_asgi_application

from helpdesk import web_process

web_process.serving = True  # before the settings load: this process pools its database connections
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from helpdesk import heap, ws_urls  # noqa: E402

# Daphne serves our few static files itself unless a proxy or CDN does (SERVE_STATIC=false).
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(ws_urls.websocket_urlpatterns))),
    }
)

# Load the URLconf (and with it every view module) now rather than on the first request, then keep
# everything loaded so far out of the garbage collector's full walks (helpdesk/heap.py).
get_resolver().url_patterns  # noqa: B018
heap.freeze_start_up_objects()
