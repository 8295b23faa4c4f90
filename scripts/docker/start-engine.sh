#!/usr/bin/env bash
# @module scripts/docker/start-engine.sh
# Make sure a Docker engine answers on this machine: start dockerd when `docker info` fails,
# then wait (bounded) until it answers. Idempotent; safe to run before every test run.
set -euo pipefail

WAIT_SECONDS="${POTATO_DOCKERD_WAIT:-60}"
LOG="${POTATO_DOCKERD_LOG:-/tmp/dockerd.log}"

if docker info >/dev/null 2>&1; then
  echo "docker: engine already answering"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker: dockerd is not installed (apt-get install -y docker.io) and no engine answers" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "docker: no engine answers and starting dockerd needs root (run this script as root, or start Docker yourself)" >&2
  exit 1
fi

# A crashed dockerd can leave its pid file behind; a live one means another start is under way.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
if [ ! -f /var/run/docker.pid ]; then
  echo "docker: starting dockerd (log: $LOG)"
  # The engine outlives whoever started it: it must not keep a test run's temporary folder
  # (TMPDIR), which that run deletes when it ends, or later container commands fail.
  TMPDIR=/tmp nohup setsid dockerd >"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
  if docker info >/dev/null 2>&1; then
    echo "docker: engine answering"
    exit 0
  fi
  sleep 1
done

echo "docker: dockerd did not answer within ${WAIT_SECONDS}s; last lines of $LOG:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
