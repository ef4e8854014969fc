#!/usr/bin/env bash
# One, two and three `hookline serve` processes on one PostgreSQL schema (the load bench's server
# (a): no hooks, 24 seeded items, one superadmin): total requests/s of GET list of 20 and POST
# create, wrk -c16 split evenly over the instances (one wrk per instance, run at once), ROUNDS
# rounds, each round measuring 1, 2 and 3 instances in turn.
#
#   crates/hookline-server/benches/instances.sh BINARY [ROUNDS] [SECONDS]
#
# Needs HOOKLINE_TEST_PG (a database the script may create the schema `bench_instances` in),
# psql, wrk and curl.
set -euo pipefail
BIN=${1:?binary}
ROUNDS=${2:-3}
SECONDS_PER_RUN=${3:-5}
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
source "$(dirname "$0")/support/server_a.sh"
write_config "$WORK/hookline.toml"
write_wrk_scripts "$WORK"

base=${HOOKLINE_TEST_PG:?set HOOKLINE_TEST_PG}
psql -q "$base" -c "DROP SCHEMA IF EXISTS bench_instances CASCADE; CREATE SCHEMA bench_instances;"
separator='?'
[[ $base == *'?'* ]] && separator='&'
database="$base${separator}options[search_path]=bench_instances"
PORTS=(18191 18192 18193)
for port in "${PORTS[@]}"; do
    "$BIN" serve --config "$WORK/hookline.toml" --database "$database" --addr "127.0.0.1:$port" \
        > "$WORK/$port.log" 2>&1 &
    PIDS+=($!)
done
for port in "${PORTS[@]}"; do
    for _ in $(seq 50); do
        curl -sf "127.0.0.1:$port/healthz" > /dev/null && break
        sleep 0.2
    done
done
TOKEN=$(curl -s -X POST "127.0.0.1:${PORTS[0]}/auth/login" -H 'content-type: application/json' \
    -d '{"login":"bench@hookline.dev","password":"bench-password"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
# run WORKLOAD N: total requests/s of N instances at once.
run() {
    local workload=$1 n=$2 conns=$((16 / $2)) script=() path='/api/items?limit=20&sort=id'
    [ "$workload" = create ] && { script=(-s "$WORK/create.lua"); path=/api/items; }
    local waiting=()
    for i in $(seq 0 $((n - 1))); do
        wrk -t1 -c"$conns" -d"${SECONDS_PER_RUN}s" "${script[@]}" -H "authorization: Bearer $TOKEN" \
            "http://127.0.0.1:${PORTS[$i]}$path" > "$WORK/wrk.$i" &
        waiting+=($!)
    done
    wait "${waiting[@]}"
    for i in $(seq 0 $((n - 1))); do
        if grep -q 'Non-2xx' "$WORK/wrk.$i"; then echo "non-2xx from instance $i" >&2; cat "$WORK/wrk.$i" >&2; exit 1; fi
        awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.$i"
    done | awk '{ s += $1 } END { printf "%.0f", s }'
}
echo "round workload instances requests/s"
for r in $(seq "$ROUNDS"); do
    for workload in list create; do
        for n in 1 2 3; do
            echo "$r $workload $n $(run "$workload" "$n")"
        done
    done
done
