# syntax=docker/dockerfile:1
# One production image for every role of the helpdesk: web (Daphne, the default command),
# worker (celery -A helpdesk worker), beat (celery -A helpdesk beat) and the one-shot migrate.
# compose.yaml runs it so; docs/deploy.md ("The artefact") says how.

# --- build: the dependencies in a virtualenv, with the compilers kept out of the final image
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# --- runtime
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=helpdesk.settings
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin helpdesk
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . /app
# Static files are collected once, into the image (var/staticfiles): the settings import with
# their local defaults (no database, no Redis is touched), and no secret is baked in.
RUN python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown -R helpdesk:helpdesk /app/var
USER helpdesk
EXPOSE 8000
# /health/ checks the database, a channel-layer round trip through Redis and a Celery worker
# ping (docs/deploy.md, "Load balancer": a fleet check; the proxy rotates on /accounts/login/).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "helpdesk.asgi:application"]
