#!/usr/bin/env bash
# The same `borderlog bench` on both storage backends, on this machine (issue 17): the embedded
# store (data/ on disk) and PostgreSQL (a throwaway cluster in a temporary directory, started
# here with the system's PostgreSQL binaries, fsync and synchronous_commit on as shipped).
#
#   scripts/store-bench.sh [bench arguments...]     # default: --clients 64 --seconds 10
#
# Needs a release build (`cargo build --release`) and PostgreSQL's binaries
# (/usr/lib/postgresql/<version>/bin; Debian's `postgresql` package). As root, the cluster runs
# as the `postgres` user, as PostgreSQL requires.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
borderlog="$here/target/release/borderlog"
[[ -x "$borderlog" ]] || { echo "build first: cargo build --release" >&2; exit 2; }
bin="${BORDERLOG_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[[ -x "$bin/initdb" ]] || { echo "no PostgreSQL binaries (apt-get install postgresql)" >&2; exit 2; }
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--clients 64 --seconds 10)

dir="$(mktemp -d /tmp/borderlog-store-bench.XXXXXX)"
port=$((20000 + RANDOM % 20000))
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$dir"
    as_pg=(runuser -u postgres --)
fi
stop() {
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

"${as_pg[@]}" "$bin/initdb" -D "$dir/pg" -U borderlog --auth=trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
"${as_pg[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U borderlog borderlog

echo "== embedded store: borderlog bench ${args[*]}"
"$borderlog" bench "${args[@]}"
echo
echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}'): borderlog bench --store postgres://borderlog@127.0.0.1:$port/borderlog ${args[*]}"
"$borderlog" bench --store "postgres://borderlog@127.0.0.1:$port/borderlog" "${args[@]}"
