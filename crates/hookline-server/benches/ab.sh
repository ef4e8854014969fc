#!/usr/bin/env bash
# Two `hookline` binaries against each other on the load bench's server (a) (no hooks, 24 seeded
# rows, one superadmin; benches/support/workload.rs): `GET /api/items?limit=20&sort=id` (list),
# `POST /api/items` (create) or `PATCH /api/items/ID` of a random seeded row (edit) with a
# bearer token, under wrk, the two servers taking turns for ROUNDS rounds (each round led by the
# other one). Prints one line per measurement, then the medians: requests/s, the change of B
# against A within each round, and the server's CPU time per request (user + system of the
# server process, from /proc; on PostgreSQL the database's own CPU is not in it).
#
#   crates/hookline-server/benches/ab.sh A_BINARY B_BINARY [ROUNDS] [SECONDS] [sqlite|postgres] [list|create|edit]
#
# Build each binary from its commit (`cargo build --release -p hookline-server --bin hookline`
# in a worktree) and copy it away first. PostgreSQL: HOOKLINE_TEST_PG (a database the script
# may create schemas `ab_a` / `ab_b` in), and `psql`. Needs `wrk` and `curl`.
set -euo pipefail

A=${1:?A binary}
B=${2:?B binary}
ROUNDS=${3:-20}
SECONDS_PER_RUN=${4:-2}
KIND=${5:-sqlite}
WORKLOAD=${6:-list}
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

source "$(dirname "$0")/support/server_a.sh"
write_config "$WORK/hookline.toml"
write_wrk_scripts "$WORK"

declare -A BIN=([a]=$A [b]=$B) PORT=([a]=18181 [b]=18182) PID TOKEN
for v in a b; do
    if [ "$KIND" = sqlite ]; then
        database="sqlite://$WORK/$v.db"
    else
        base=${HOOKLINE_TEST_PG:?set HOOKLINE_TEST_PG for PostgreSQL}
        psql -q "$base" -c "DROP SCHEMA IF EXISTS ab_$v CASCADE; CREATE SCHEMA ab_$v;"
        separator='?'
        [[ $base == *'?'* ]] && separator='&'
        database="$base${separator}options[search_path]=ab_$v"
    fi
    HOOKLINE_SECRET=ab-list-secret-of-at-least-32-bytes "${BIN[$v]}" serve \
        --config "$WORK/hookline.toml" --database "$database" --addr "127.0.0.1:${PORT[$v]}" \
        > "$WORK/$v.log" 2>&1 &
    PID[$v]=$!
    PIDS+=($!)
done
URL_PATH='/api/items?limit=20&sort=id'
SCRIPT=()
case $WORKLOAD in
    list) ;;
    create) URL_PATH=/api/items; SCRIPT=(-s "$WORK/create.lua") ;;
    edit) URL_PATH=/api/items; SCRIPT=(-s "$WORK/edit.lua") ;;
    *) echo "unknown workload $WORKLOAD (list, create or edit)"; exit 2 ;;
esac
for v in a b; do
    for _ in $(seq 50); do
        curl -sf "127.0.0.1:${PORT[$v]}/healthz" > /dev/null && break
        sleep 0.2
    done
    TOKEN[$v]=$(curl -s -X POST "127.0.0.1:${PORT[$v]}/auth/login" -H 'content-type: application/json' \
        -d '{"login":"bench@hookline.dev","password":"bench-password"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
    code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:${PORT[$v]}/api/items?limit=20&sort=id" \
        -H "authorization: Bearer ${TOKEN[$v]}")
    [ "$code" = 200 ] || { echo "server $v answers $code"; cat "$WORK/$v.log"; exit 1; }
    wrk -t2 -c16 -d2s "${SCRIPT[@]}" -H "authorization: Bearer ${TOKEN[$v]}" "http://127.0.0.1:${PORT[$v]}$URL_PATH" > /dev/null
done

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)
echo "round server requests/s p50 p99 cpu_us_per_request"
for r in $(seq "$ROUNDS"); do
    order="a b"
    [ $((r % 2)) = 0 ] && order="b a"
    for v in $order; do
        before=$(cpu "${PID[$v]}")
        out=$(wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency "${SCRIPT[@]}" -H "authorization: Bearer ${TOKEN[$v]}" \
            "http://127.0.0.1:${PORT[$v]}$URL_PATH")
        after=$(cpu "${PID[$v]}")
        if echo "$out" | grep -q 'Non-2xx'; then echo "server $v answered non-2xx:"; echo "$out"; exit 1; fi
        requests=$(echo "$out" | awk '/requests in/ { print $1 }')
        echo "$r $v $(echo "$out" | awk '/Requests\/sec/ { print $2 }') \
$(echo "$out" | awk '$1 == "50%" { print $2 }') $(echo "$out" | awk '$1 == "99%" { print $2 }') \
$(awk -v t=$((after - before)) -v n="$requests" -v hz="$ticks" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
    done
done | tee "$WORK/rounds.txt"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
column_of() { awk -v s="$1" -v c="$2" '$2 == s { print $c }' "$WORK/rounds.txt"; }
change() {
    awk -v c="$1" '{ x[$1 " " $2] = $c } END { for (k in x) { split(k, p, " "); if (p[2] == "a") print x[p[1] " b"] / x[k] * 100 - 100 } }' \
        "$WORK/rounds.txt" | median
}
echo
echo "A = $A"
echo "B = $B"
echo "requests/s, median: A $(column_of a 3 | median), B $(column_of b 3 | median); B against A, median of the rounds: $(change 3) %"
echo "server CPU per request, median: A $(column_of a 6 | median) µs, B $(column_of b 6 | median) µs; B against A: $(change 6) %"
