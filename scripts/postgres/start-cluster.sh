#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and CI: initdb in a fresh folder, a server that
# listens only on a Unix socket inside it (no TCP port to collide with, no one else can reach
# it), a database `potato` owned by the role `potato`. Prints the URL as its only stdout line and
# writes it to <dir>/url. Stop and remove it with stop-cluster.sh <dir>.
#
# Usage: start-cluster.sh [DIR]   (default: a new folder under $TMPDIR)
# PG_BIN overrides where initdb/pg_ctl are (default: the newest /usr/lib/postgresql/*/bin).
# initdb and pg_ctl refuse to run as root: as root, the cluster runs as the `postgres` user.
#
# Durability is off (fsync, full_page_writes, synchronous_commit): the cluster holds test data
# only. POTATO_PG_DURABLE=1 keeps PostgreSQL's defaults (benchmarks: commits cost what they would).
set -euo pipefail

dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/potato-pg-XXXXXX")}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
case "$dir" in
  *[!A-Za-z0-9/._-]*) echo "start-cluster.sh: the folder path $dir has characters a URL would need escaped; pick another" >&2; exit 2 ;;
esac

bin="${PG_BIN:-}"
if [[ -z "$bin" ]]; then
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "start-cluster.sh: PostgreSQL server binaries not found (looked in ${bin:-/usr/lib/postgresql/*/bin}); install Debian's postgresql package or set PG_BIN" >&2
  exit 1
fi

as_owner=()
if [[ "$(id -u)" == 0 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "start-cluster.sh: running as root needs the postgres user (Debian's postgresql package creates it)" >&2
    exit 1
  fi
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
  if ! runuser -u postgres -- test -w "$dir"; then
    echo "start-cluster.sh: the postgres user cannot reach $dir: let others pass through its parent folders (chmod o+x)" >&2
    exit 1
  fi
fi
chmod 700 "$dir"
fast="-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
[[ "${POTATO_PG_DURABLE:-}" == 1 ]] && fast=""

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U potato -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
  "-c listen_addresses='' -c unix_socket_directories='$dir' $fast -c max_connections=200" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/createdb" -h "$dir" -U potato potato

url="postgresql://potato@/potato?host=$dir"
echo "$url" >"$dir/url"
echo "$url"
