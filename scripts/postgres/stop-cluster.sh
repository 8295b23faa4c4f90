#!/usr/bin/env bash
# Stop a cluster start-cluster.sh made and remove its folder (everything in it is test data).
# Usage: stop-cluster.sh DIR
set -euo pipefail
dir="${1:?usage: stop-cluster.sh DIR}"
bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
as_owner=()
[[ "$(id -u)" == 0 ]] && as_owner=(runuser -u postgres --)
if [[ -f "$dir/data/postmaster.pid" ]]; then
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
fi
rm -rf "$dir"
