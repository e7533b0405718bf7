#!/usr/bin/env bash
# One command to try the product: virtualenv, install, migrate, demo data, then Daphne,
# a Celery worker and Celery beat together (honcho). Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements.txt

export DEBUG="${DEBUG:-true}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export HELPDESK_PORT="${HELPDESK_PORT:-8000}"

redis_answers() { python - "$REDIS_URL" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}

private_redis_pid=""
stop_private_redis() { [ -n "$private_redis_pid" ] && kill "$private_redis_pid" 2>/dev/null || true; }
trap stop_private_redis EXIT

if ! redis_answers; then
  if command -v redis-server >/dev/null; then
    port="$(python -c 'import sys; from urllib.parse import urlparse; print(urlparse(sys.argv[1]).port or 6379)' "$REDIS_URL")"
    echo "Nothing answers at $REDIS_URL: starting a private Redis on port $port (data in var/redis)."
    mkdir -p var/redis
    redis-server --bind 127.0.0.1 --port "$port" --dir var/redis --save "" --appendonly no \
      --logfile "$PWD/var/redis/redis.log" &
    private_redis_pid=$!
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  else
    echo "Redis is needed at $REDIS_URL: install it (apt-get install redis-server) or set REDIS_URL." >&2
    exit 1
  fi
fi

python manage.py migrate --noinput
python manage.py seed_demo
honcho start -f Procfile
