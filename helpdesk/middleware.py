"""A Content-Security-Policy that the pages work under: our own scripts and styles only."""

from django.conf import settings

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "font-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The API's browsable docs (Swagger UI) ship inline scripts and styles of their own; the
        # admin works under the strict policy (tests/browser/test_security.py proves it).
        if not request.path.startswith("/api/"):
            response.setdefault("Content-Security-Policy", getattr(settings, "CONTENT_SECURITY_POLICY", POLICY))
        return response


def client_ip(request) -> str | None:
    """The visitor's address for login throttling, also behind a load balancer.

    With TRUSTED_PROXY_COUNT = n > 0, the n proxies in front of us each appended the address
    they saw to X-Forwarded-For, so the client is the n-th entry from the right; anything
    further left was sent by the client and may be forged. With 0, the socket's peer is it.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")
