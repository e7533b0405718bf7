"""A Content-Security-Policy that the pages work under: our own scripts and styles only.

Every response gets it, `/api/` included:

* the API's JSON and the schema: the strict policy (it costs nothing and covers a JSON
  response opened as a page);
* the Swagger UI (`/api/docs/`, drf-spectacular with the sidecar's static files): the strict
  policy plus the sha256 hashes of the page's own two inline blocks, its start-up `<script>`
  (it carries the request's CSRF token, so its hash is computed per response) and its small
  `<style>`. Only the blocks of drf-spectacular's own template are hashed, recognised by its
  template name, never inline code of other pages; the page shows no user text (the schema is
  fetched as JSON and rendered by Swagger UI through the DOM, which the policy still governs);
* DRF's browsable API pages (`/api/...` in a browser): scripts as strict as everywhere, but
  styles may be inline, as DRF's templates set `style="..."` attributes and an inline `<style>`.
"""

import base64
import hashlib
import re

from django.conf import settings

DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self' data:",
    "connect-src": "'self' ws: wss:",
    "font-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def policy(**extra: str) -> str:
    """The policy, with `extra` sources appended to directives (script_src="'sha256-…'")."""
    directives = dict(DIRECTIVES)
    for name, sources in extra.items():
        directive = name.replace("_", "-")
        directives[directive] = f"{directives[directive]} {sources}"
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


POLICY = policy()
SWAGGER_TEMPLATE = "drf_spectacular/swagger_ui.html"
INLINE_BLOCK = re.compile(rb"<(script|style)>(.*?)</\1>", re.DOTALL)


def inline_hashes(html: bytes) -> dict[str, str]:
    """CSP hash sources of a page's inline `<script>` and `<style>` blocks (attribute-less tags only)."""
    sources: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in INLINE_BLOCK.findall(html):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        sources[tag.decode()].append(f"'sha256-{digest}'")
    return {f"{tag}_src": " ".join(found) for tag, found in sources.items() if found}


def api_policy(response) -> str:
    if getattr(response, "template_name", None) == SWAGGER_TEMPLATE:
        return policy(**inline_hashes(response.content))
    if response.get("Content-Type", "").startswith("text/html"):
        return policy(style_src="'unsafe-inline'")
    return POLICY


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The admin works under the strict policy (tests/browser/test_security.py proves it); the
        # API's pages get theirs from api_policy (tests/reliability/test_api_docs_csp.py).
        if request.path.startswith("/api/") and not getattr(response, "streaming", False):
            response.setdefault("Content-Security-Policy", api_policy(response))
        else:
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
