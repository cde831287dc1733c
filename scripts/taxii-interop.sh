#!/usr/bin/env bash
# Interoperability with the OASIS reference TAXII 2.1 client: starts a real `borderlog serve`
# (with its TAXII read side) and a real `borderlog gateway` on fresh keys, then runs
# scripts/taxii_interop.py, which uses taxii2-client and stix2 as a platform would: push through
# the gateway and follow the status, read back with as_pages, get_object, object_versions,
# get_manifest and a filter. Needs python3 with the packages (pip install taxii2-client stix2);
# not part of `cargo test`, so CI does not depend on PyPI.
#
#   scripts/taxii-interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import taxii2client, stix2' 2>/dev/null || {
    echo "needs python3 with taxii2-client and stix2: pip install taxii2-client stix2" >&2
    exit 2
}
cargo build --quiet --bin borderlog
bin=$PWD/target/debug/borderlog
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
grpc=$(free_port) taxii=$(free_port) gw=$(free_port)
"$bin" init --keys "$dir/keys" >/dev/null
"$bin" serve --keys "$dir/keys" --data "$dir/data" --addr "127.0.0.1:$grpc" \
    --taxii-listen "127.0.0.1:$taxii" --metrics-addr off --retention-interval off 2>"$dir/serve.log" &
pids+=($!)
wait_port "$taxii"
"$bin" gateway --keys "$dir/keys" --addr "127.0.0.1:$grpc" --listen "127.0.0.1:$gw" \
    --state "$dir/gateway" --tlp amber 2>"$dir/gateway.log" &
pids+=($!)
wait_port "$gw"
# requests lets REQUESTS_CA_BUNDLE override a session's own `verify`: name the dev CA there too.
REQUESTS_CA_BUNDLE="$dir/keys/ca.crt" CURL_CA_BUNDLE="$dir/keys/ca.crt" \
    python3 scripts/taxii_interop.py "https://localhost:$taxii/taxii2/" "https://localhost:$gw/taxii2/" "$dir/keys"
