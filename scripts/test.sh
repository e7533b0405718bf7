#!/usr/bin/env bash
# One command to run the whole suite: PostgreSQL (DATABASE_URL, default the local server)
# and the local Redis (REDIS_URL). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements-dev.txt

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/helpdesk}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/1}"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "The browser tests need Chromium at /usr/bin/chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "Models and migrations differ: run python manage.py makemigrations" >&2; exit 1; }
# Two workers (pytest-xdist), each test module on one so its browser and fixtures stay together:
# the suite mostly waits on browsers, servers and timeouts, and those waits overlap. Each worker
# has its own test database and Redis prefixes (tests/settings.py). TEST_WORKERS=0: one process.
workers="${TEST_WORKERS:-2}"
if [ "$workers" != 0 ]; then set -- -n "$workers" --dist loadfile "$@"; fi
exec python -m pytest "$@"
