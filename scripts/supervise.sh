#!/usr/bin/env bash
# Run a command and start it again whenever it dies with an error; stop it when asked to stop.
# `make run` keeps its Celery worker under this, as production keeps it under systemd
# (Restart=always): a Celery 5.7 worker that holds a countdown task exits when Redis restarts
# (finding R8, docs/deploy.md), and honcho would otherwise stop the whole product with it.
child=0
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
while true; do
  "$@" &
  child=$!
  wait "$child"
  status=$?
  [ "$status" -eq 0 ] && exit 0
  echo "supervise: '$*' exited with status $status; starting it again in 1 s" >&2
  sleep 1
done
