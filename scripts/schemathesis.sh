#!/usr/bin/env bash
# Property-based API conformance: runs Schemathesis (every check) against the OpenAPI document
# that `satusky serve --runtime none` serves, with an admin token of org `acme`. Settings and
# the few documented exceptions are in scripts/schemathesis.toml. Fails on any failure.
#
# Usage: scripts/schemathesis.sh [PATH_TO_SATUSKY_BINARY]   (default target/debug/satusky)
# Env: ST_MAX_EXAMPLES (default 40) — examples per operation and phase.
# Needs: pip install schemathesis.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/debug/satusky}"
command -v schemathesis >/dev/null || { echo "schemathesis.sh: schemathesis not found (pip install schemathesis)" >&2; exit 2; }
[ -x "$bin" ] || { echo "schemathesis.sh: no satusky binary at $bin (cargo build -p satusky)" >&2; exit 2; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The API on a free loopback port, with a store of its own and a secret key (so secrets can
# be sealed: without one, PATCH …/secrets answers 503 by design).
mkdir -p "$work/state"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$work/secret.key"
chmod 600 "$work/secret.key"
export SATUSKY_SECRET_KEYS="k1=$work/secret.key"
SATUSKY_LOG=warn "$bin" serve --runtime none --listen 127.0.0.1:0 --state-dir "$work/state" \
    2> "$work/serve.log" &
server_pid=$!
for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*API listening on http:\/\/\([^ ]*\).*/\1/p' "$work/serve.log" | head -n1)"
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "${addr:-}" ] || { echo "schemathesis.sh: satusky serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
token() { "$bin" token create --org acme --role admin --name "$1" --state-dir "$work/state" 2>/dev/null; }

# Token revocation runs apart, with a token of its own: a run that revoked the token it
# tests with would lock itself out and turn every later answer into 401.
revoke="DELETE /v1/orgs/{org}/tokens/{id}"
echo "schemathesis against http://$addr (satusky serve --runtime none)"
status=0
for pass in main revoke; do
    if [ "$pass" = main ]; then filter=(--exclude-name "$revoke"); else filter=(--include-name "$revoke"); fi
    ST_TOKEN="$(token "schemathesis-$pass")" || { echo "schemathesis.sh: cannot create a token" >&2; exit 1; }
    export ST_TOKEN
    (cd "$root/scripts" && schemathesis --config-file "$root/scripts/schemathesis.toml" run \
        "http://$addr/v1/openapi.json" \
        "${filter[@]}" \
        --checks all \
        --max-examples "${ST_MAX_EXAMPLES:-40}" \
        --seed 1 \
        --no-color) || status=$?
done
if [ "$status" -ne 0 ]; then
    echo "--- satusky serve log (last 50 lines)" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
