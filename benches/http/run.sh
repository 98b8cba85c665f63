#!/usr/bin/env bash
# HTTP benchmarks: stratad against a bare hyper server (and, where installed, Redis and etcd
# with durable writes), under wrk. See docs/benchmarks.md (section "HTTP").
#
#   benches/http/run.sh                      # everything, defaults below
#   DURATION_SECS=5 ROUNDS=1 benches/http/run.sh
#   ENDPOINTS="vox_set vox_get" COMPARE=0 SKIP_BUILD=1 benches/http/run.sh
#
# For every endpoint, stratad and bare_hyper are measured in alternation (A B A B ...), so
# slow drifts of a shared machine hit both alike; the ratio is the median over the pairs of
# stratad / bare req/s.
# Everything listens on 127.0.0.1 only, every step is bounded in time, and every process
# this script starts is stopped on exit (trap), whatever happens.
#
# Settings (environment):
#   DURATION_SECS=10   seconds per wrk run           CONNECTIONS=64  wrk -c
#   THREADS=1          wrk -t                         ROUNDS=3        A B pairs per endpoint
#   READ_KEYS=10000    keys preloaded for the reads   COMPARE=1       also Redis and etcd
#   ENDPOINTS="vox_set vox_get keystore_post keystore_get keyvalues_post appkeys_mix"
#   STRATA_PORT=17700 BARE_PORT=17800 REDIS_PORT=16379 ETCD_PORT=12379 ETCD_PEER_PORT=12380
#   SKIP_BUILD=0       1: use the binaries already in target/release
#   SKIP_INSTALL=0     1: never apt-get install (missing wrk is then an error, the rest skipped)
#   KEEP=0             1: keep the work directory (data, logs, raw results)
#   RESULTS_FILE=      also copy the raw results (TSV) there
#   STRATAD=           the stratad binary to measure (default target/release/stratad), e.g.
#                      a saved copy of an older build for an A/B run

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCRIPTS="$ROOT/benches/http/scripts"
BIN="$ROOT/target/release"

DURATION_SECS="${DURATION_SECS:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-1}"
ROUNDS="${ROUNDS:-3}"
READ_KEYS="${READ_KEYS:-10000}"
COMPARE="${COMPARE:-1}"
ENDPOINTS="${ENDPOINTS:-vox_set vox_get keystore_post keystore_get keyvalues_post appkeys_mix}"
STRATA_PORT="${STRATA_PORT:-17700}"
BARE_PORT="${BARE_PORT:-17800}"
REDIS_PORT="${REDIS_PORT:-16379}"
ETCD_PORT="${ETCD_PORT:-12379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-12380}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SKIP_INSTALL="${SKIP_INSTALL:-0}"
KEEP="${KEEP:-0}"
RESULTS_FILE="${RESULTS_FILE:-}"
STRATAD="${STRATAD:-$ROOT/target/release/stratad}"

# Bounds on every wait, in seconds.
readonly SERVER_START_TIMEOUT=30
readonly WRK_GRACE=30            # on top of the run's own duration
readonly PRELOAD_ATTEMPTS=3      # each twice as long as the one before
readonly INSTALL_TIMEOUT=600
readonly BUILD_TIMEOUT=3600
readonly STOP_TIMEOUT=15

WORK="$(mktemp -d /tmp/strata-http-bench.XXXXXX)"
RESULTS="$WORK/results.tsv"
PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Stops what this script started (by pid, TERM then KILL), then removes the work directory.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n "$RESULTS_FILE" && -f "$RESULTS" ]]; then cp "$RESULTS" "$RESULTS_FILE"; fi
  if [[ "$KEEP" == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid did not stop in ${STOP_TIMEOUT}s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until <what> <command...>: retries the command every 0.1 s, up to SERVER_START_TIMEOUT.
wait_until() {
  local what=$1 i
  shift
  for ((i = 0; i < SERVER_START_TIMEOUT * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not come up within ${SERVER_START_TIMEOUT}s (logs in $WORK)"
}

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

# apt_install <package...>: best effort, bounded; installs nothing when SKIP_INSTALL=1.
apt_install() {
  [[ "$SKIP_INSTALL" == 1 ]] && return 1
  command -v apt-get >/dev/null || return 1
  log "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if as_root timeout "$INSTALL_TIMEOUT" apt-get install -y -q "$@" >"$WORK/apt.log" 2>&1; then
    return 0
  fi
  as_root timeout "$INSTALL_TIMEOUT" apt-get update -q >>"$WORK/apt.log" 2>&1 || true
  as_root timeout "$INSTALL_TIMEOUT" apt-get install -y -q "$@" >>"$WORK/apt.log" 2>&1
}

# --------------------------------------------------------------------------------------------
# Tools and binaries

for tool in curl python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
python3 -c 'import tomllib' 2>/dev/null || die "python3 >= 3.11 is required (tomllib)"
if ! command -v wrk >/dev/null; then
  apt_install wrk || die "wrk is not installed and could not be installed (apt-get install wrk)"
fi
if [[ ! -x /usr/bin/time ]]; then
  apt_install time || die "/usr/bin/time is not installed and could not be installed (apt-get install time)"
fi
if [[ "$COMPARE" == 1 ]]; then
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    apt_install redis-server redis-tools || log "Redis unavailable: skipped"
  fi
  if ! command -v etcd >/dev/null; then
    apt_install etcd-server || log "etcd unavailable: skipped"
  fi
fi

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building release binaries (cargo reuses target/; the first build is slow)"
  (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -q \
    -p strata-server --bin stratad -p strata-benches --bin bare_hyper)
fi
[[ -x "$STRATAD" && -x "$BIN/bare_hyper" ]] || die "missing $STRATAD or $BIN/bare_hyper"

for port in "$STRATA_PORT" "$BARE_PORT"; do
  port_free "$port" || die "port $port on 127.0.0.1 is in use (set STRATA_PORT / BARE_PORT)"
done

# --------------------------------------------------------------------------------------------
# Machine

machine() {
  local cpu fs sync_us
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  fs=$(df -T "$WORK" | awk 'NR == 2 {print $2 " on " $1}')
  # 1000 synchronous 4 KiB writes: the disk's cost of one durable write, as a yardstick.
  sync_us=$(dd if=/dev/zero of="$WORK/sync-probe" bs=4k count=1000 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) {print int($(i-1) * 1000); exit}}')
  rm -f "$WORK/sync-probe"
  echo "cpus: $(nproc) x ${cpu:-unknown}; memory: $(free -g | awk '/^Mem/ {print $2}') GiB; kernel: $(uname -r)"
  echo "work dir: $WORK ($fs); O_DSYNC 4 KiB write: ${sync_us:-?} us"
  echo "wrk: $(wrk -v 2>&1 | head -1); -t$THREADS -c$CONNECTIONS -d${DURATION_SECS}s, $ROUNDS round(s) per server"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# --------------------------------------------------------------------------------------------
# Servers

start_stratad() {
  log "starting stratad (zero-config first start, sync = always) on 127.0.0.1:$STRATA_PORT"
  "$STRATAD" --data-dir "$WORK/strata-data" --listen "127.0.0.1:$STRATA_PORT" \
    >"$WORK/stratad.log" 2>&1 &
  STRATAD_PID=$!
  PIDS+=("$STRATAD_PID")
  wait_until stratad curl -sf "http://127.0.0.1:$STRATA_PORT/readyz"
}

start_bare() {
  log "starting bare_hyper on 127.0.0.1:$BARE_PORT"
  "$BIN/bare_hyper" --listen "127.0.0.1:$BARE_PORT" >"$WORK/bare.log" 2>&1 &
  PIDS+=("$!")
  wait_until bare_hyper curl -sf -o /dev/null "http://127.0.0.1:$BARE_PORT/"
}

# credential <python expression over `c` (credentials.toml)>
credential() {
  python3 -c "import sys, tomllib; c = tomllib.load(open(sys.argv[1], 'rb')); print($1)" \
    "$WORK/strata-data/credentials.toml"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# A Voximplant service-account JWT (RS256: kid; iss, iat, exp) from the generated
# voximplant-credentials.json, valid for 50 minutes: minted by `strata token voximplant`
# when that binary is built (target/release or PATH), else with openssl as the SDKs do.
vox_jwt() {
  local creds="$WORK/strata-data/voximplant-credentials.json" strata kid account now header claims sig
  strata=$(command -v "$BIN/strata" strata 2>/dev/null | head -1 || true)
  if [[ -n "$strata" ]] && "$strata" token voximplant --credentials "$creds" --ttl 3000 2>/dev/null; then
    return 0
  fi
  python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['private_key'])" "$creds" \
    >"$WORK/vox-key.pem"
  chmod 600 "$WORK/vox-key.pem"
  kid=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['key_id'])" "$creds")
  account=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['account_id'])" "$creds")
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
  claims=$(printf '{"iss":"%s","iat":%d,"exp":%d}' "$account" $((now - 5)) $((now + 3000)) | b64url)
  sig=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$WORK/vox-key.pem" -binary | b64url)
  printf '%s.%s.%s' "$header" "$claims" "$sig"
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

keyvalues_token() {
  local api user pass
  api=$(credential "c['keyvalues']['apps'][0]['api_key']")
  user=$(credential "c['keyvalues']['apps'][0]['users'][0]['username']")
  pass=$(credential "c['keyvalues']['apps'][0]['users'][0]['password']")
  curl -sf -X POST "http://127.0.0.1:$STRATA_PORT/$api/login" --data-urlencode grant_type=password \
    --data-urlencode "username=$user" --data-urlencode "password=$pass" | json_field access_token
}

app_keys_token() {
  local id secret
  id=$(credential "c['app_keys']['stores'][0]['client_id']")
  secret=$(credential "c['app_keys']['stores'][0]['client_secret']")
  curl -sf -X POST "http://127.0.0.1:$STRATA_PORT/oauth/access_token" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$id" \
    --data-urlencode "client_secret=$secret" | json_field access_token
}

# The bearer token each endpoint's script sends (the bare server ignores it).
token_for() {
  case "$1" in
    vox_*) vox_jwt ;;
    keystore_*) credential "c['keystore']['users'][0]['token']" ;;
    keyvalues_*) keyvalues_token ;;
    appkeys_*) app_keys_token ;;
    *) die "unknown endpoint $1" ;;
  esac
}

# --------------------------------------------------------------------------------------------
# Measuring

# wrk_run <script> <url> <seconds> <token>: prints the script's RESULT line.
wrk_run() {
  local script=$1 url=$2 secs=$3 token=$4 out
  out=$(BENCH_SCRIPTS="$SCRIPTS" BENCH_TOKEN="$token" BENCH_API_KEY="${API_KEY:-}" \
    BENCH_READ_KEYS="$READ_KEYS" /usr/bin/time -f '%U %S' -o "$WORK/wrk-time" \
    timeout $((secs + WRK_GRACE)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s -s "$SCRIPTS/$script.lua" "$url") ||
    die "wrk $script against $url failed: $out"
  grep '^RESULT ' <<<"$out" || die "wrk $script printed no RESULT line: $out"
}

# field <RESULT line> <name>
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

metric() {
  curl -sf "http://127.0.0.1:$STRATA_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# Engine counters around a stratad write run: commits per group commit and per WAL fsync
# (pipelined commit: one fsync may cover several groups), mean fsync.
engine_snapshot() {
  echo "$(metric strata_commits_total) $(metric strata_commit_groups_total)" \
    "$(metric strata_wal_fsync_duration_seconds_sum) $(metric strata_wal_fsync_duration_seconds_count)"
}

engine_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    groups = y[2] - x[2]; fsyncs = y[4] - x[4]
    if (groups <= 0) { print "-"; exit }
    printf "commits/group=%.1f commits/fsync=%.1f fsync_ms=%.2f", (y[1] - x[1]) / groups,
      (fsyncs > 0 ? (y[1] - x[1]) / fsyncs : 0), (fsyncs > 0 ? (y[3] - x[3]) * 1000 / fsyncs : 0)
  }'
}

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The whole machine's CPU time, all CPUs, in jiffies: "<idle + iowait> <total>".
machine_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t }' /proc/stat; }

# Notes on the wrk run that just ended, started at machine_ticks <before>: wrk's own CPU per
# request, and how idle the machine was (a server that leaves the CPUs idle at 64
# connections is waiting on something, not short of CPU).
run_notes() {
  local before=$1 line=$2
  awk -v a="$before" -v b="$(machine_ticks)" -v n="$(field "$line" requests)" \
    -v w="$(cat "$WORK/wrk-time" 2>/dev/null)" 'BEGIN {
      split(a, x, " "); split(b, y, " "); split(w, c, " ")
      if (n > 0 && w != "") printf "wrk_cpu_us/req=%.0f ", (c[1] + c[2]) * 1000000 / n
      if (y[2] > x[2]) printf "idle=%.0f%%", (y[1] - x[1]) * 100 / (y[2] - x[2])
    }'
}

# cpu_per_request <ticks before> <ticks after> <RESULT line>: server CPU µs per request.
cpu_per_request() {
  awk -v a="$1" -v b="$2" -v n="$(field "$3" requests)" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1000000 / hz / n; else print "-" }'
}

# preload <script> <token>: writes READ_KEYS keys for the read endpoints (the script stops
# itself after READ_KEYS answers; wrk still waits out -d, hence short, growing attempts).
preload() {
  local script=$1 token=$2 secs=5 attempt line
  for ((attempt = 1; attempt <= PRELOAD_ATTEMPTS; attempt++)); do
    line=$(wrk_run "$script" "http://127.0.0.1:$STRATA_PORT" "$secs" "$token")
    if (($(field "$line" requests) >= READ_KEYS)) && (($(field "$line" status_errors) == 0)); then
      log "preloaded $READ_KEYS keys ($script)"
      return 0
    fi
    secs=$((secs * 2))
  done
  die "$script wrote fewer than $READ_KEYS keys: $line"
}

# record <endpoint> <server> <round> <RESULT line> <notes>
record() {
  local r=$4
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(field "$r" rps)" \
    "$(field "$r" p50_us)" "$(field "$r" p99_us)" "$(field "$r" status_errors)" \
    "$(field "$r" socket_errors)" "$5" >>"$RESULTS"
  log "$(printf '%-15s %-8s round %s: %9s req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s/%s  %s' \
    "$1" "$2" "$3" "$(field "$r" rps)" "$(awk -v u="$(field "$r" p50_us)" 'BEGIN {print u / 1000}')" \
    "$(awk -v u="$(field "$r" p99_us)" 'BEGIN {print u / 1000}')" "$(field "$r" status_errors)" \
    "$(field "$r" socket_errors)" "$5")"
}

bench_endpoint() {
  local ep=$1 round token before line notes cpu_before machine_before
  case "$ep" in
    vox_get) preload vox_preload "$(token_for "$ep")" ;;
    keystore_get) preload keystore_preload "$(token_for "$ep")" ;;
  esac
  for ((round = 1; round <= ROUNDS; round++)); do
    token=$(token_for "$ep")
    before=$(engine_snapshot)
    cpu_before=$(cpu_ticks "$STRATAD_PID")
    machine_before=$(machine_ticks)
    line=$(wrk_run "$ep" "http://127.0.0.1:$STRATA_PORT" "$DURATION_SECS" "$token")
    notes="$(engine_delta "$before" "$(engine_snapshot)")"
    notes+=" cpu_us/req=$(cpu_per_request "$cpu_before" "$(cpu_ticks "$STRATAD_PID")" "$line")"
    notes+=" $(run_notes "$machine_before" "$line")"
    notes+=" load=$(cut -d' ' -f1 /proc/loadavg)"
    record "$ep" stratad "$round" "$line" "$notes"
    machine_before=$(machine_ticks)
    line=$(wrk_run "$ep" "http://127.0.0.1:$BARE_PORT" "$DURATION_SECS" "$token")
    record "$ep" bare "$round" "$line" \
      "$(run_notes "$machine_before" "$line") load=$(cut -d' ' -f1 /proc/loadavg)"
  done
}

# --------------------------------------------------------------------------------------------
# Redis and etcd (durable writes, for context)

bench_redis() {
  command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    log "Redis not installed: skipped"
    return 0
  }
  port_free "$REDIS_PORT" || { log "port $REDIS_PORT in use: Redis skipped"; return 0; }
  mkdir -p "$WORK/redis"
  log "starting redis-server (appendonly yes, appendfsync always) on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$WORK/redis.log" 2>&1 &
  local pid=$! round csv n rps
  PIDS+=("$pid")
  wait_until redis redis-cli -p "$REDIS_PORT" ping
  # redis-benchmark runs a request count, not a duration: size it from a short first run.
  csv=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set -d 100 -c "$CONNECTIONS" \
    -r 100000000 -n 20000 --csv | tail -1)
  rps=$(tr -d '"' <<<"$csv" | cut -d, -f2)
  n=$(awk -v r="$rps" -v s="$DURATION_SECS" 'BEGIN {printf "%d", r * s}')
  for ((round = 1; round <= ROUNDS; round++)); do
    csv=$(timeout $((DURATION_SECS * 3 + WRK_GRACE)) redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" \
      -t set -d 100 -c "$CONNECTIONS" -r 100000000 -n "$n" --csv | tail -1) || die "redis-benchmark failed"
    # "SET","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$(tr -d '"' <<<"$csv")"
    record redis_set redis "$round" "$(awk -v r="$rps" -v a="$p50" -v b="$p99" \
      'BEGIN {printf "RESULT rps=%s p50_us=%d p99_us=%d status_errors=0 socket_errors=0", r, a * 1000, b * 1000}')" \
      "redis-benchmark SET -d 100 -c $CONNECTIONS, appendfsync always"
  done
  stop_pid "$pid"
  forget_pid "$pid"
}

bench_etcd() {
  command -v etcd >/dev/null || { log "etcd not installed: skipped"; return 0; }
  for port in "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    port_free "$port" || { log "port $port in use: etcd skipped"; return 0; }
  done
  local client="http://127.0.0.1:$ETCD_PORT" peer="http://127.0.0.1:$ETCD_PEER_PORT" v2=(--enable-v2)
  etcd --help 2>&1 | grep -q -- '--enable-v2' || v2=()
  log "starting etcd $(etcd --version | awk 'NR == 1 {print $3}') ${v2[*]} on $client"
  etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "$client" \
    --advertise-client-urls "$client" --listen-peer-urls "$peer" \
    --initial-advertise-peer-urls "$peer" --initial-cluster "bench=$peer" "${v2[@]}" \
    >"$WORK/etcd.log" 2>&1 &
  local pid=$! script round line
  PIDS+=("$pid")
  wait_until etcd curl -sf "$client/health"
  if [[ $(curl -s -o /dev/null -w '%{http_code}' -X PUT "$client/v2/keys/probe?prevExist=false" \
    -d value=x) == 201 ]]; then
    script=etcd_v2_put
  else
    log "etcd serves no v2 keys API: using the v3 gateway /v3/kv/put (a plain put, not create-only)"
    script=etcd_v3_put
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    line=$(wrk_run "$script" "$client" "$DURATION_SECS" none)
    record "$script" etcd "$round" "$line" "load=$(cut -d' ' -f1 /proc/loadavg)"
  done
  stop_pid "$pid"
  forget_pid "$pid"
}

# --------------------------------------------------------------------------------------------
# Report

report() {
  awk -F'\t' -v conns="$CONNECTIONS" '
    function ms(us) { return sprintf("%.2f", us / 1000) }
    # The median of v[1..n] (sorts v).
    function median(v, n,    i, j, t) {
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n == 0 ? 0 : (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
    }
    # Median over the rounds of column `c` of (endpoint, server) `k`.
    function med(k, c,    r, n, v) {
      n = 0
      for (r = 1; r <= rounds[k]; r++) if ((k SUBSEP r) in row) { split(row[k SUBSEP r], f, "\t"); v[++n] = f[c] }
      return median(v, n)
    }
    {
      k = $1 SUBSEP $2
      if (!($1 in seen)) { seen[$1] = 1; eps[++count] = $1 }
      row[k SUBSEP $3] = $0
      if ($3 > rounds[k]) rounds[k] = $3
      if ($6 > worst[k]) worst[k] = $6
      err[k] += $7 + $8
      label[$1] = $2
    }
    END {
      printf "\nmedians over the rounds; ratio = median of the per-pair stratad/bare ratios\n"
      printf "%-15s %11s %11s %6s %12s %16s %16s %9s %7s\n", "endpoint", "stratad r/s", "bare r/s",
        "ratio", "(pairs)", "stratad p50/p99", "bare p50/p99", "worst p99", "errors"
      for (i = 1; i <= count; i++) {
        ep = eps[i]; s = ep SUBSEP "stratad"; b = ep SUBSEP "bare"
        if ((s in rounds) && (b in rounds)) {
          # Adjacent A/B pairs: drifts of a shared machine between pairs cancel out, and one
          # disturbed pair does not move the median.
          n = 0; delete q
          for (r = 1; r <= rounds[s]; r++) {
            if (!((s SUBSEP r) in row) || !((b SUBSEP r) in row)) continue
            split(row[s SUBSEP r], fs, "\t"); split(row[b SUBSEP r], fb, "\t")
            if (fb[4] > 0) q[++n] = fs[4] / fb[4]
          }
          ratio[ep] = median(q, n); rps[ep] = med(s, 4); p99[ep] = med(s, 6)
          printf "%-15s %11.0f %11.0f %5.2fx %12s %7s/%-8s %7s/%-8s %9s %7d\n", ep, rps[ep], med(b, 4),
            ratio[ep], sprintf("%.2f..%.2f", q[1], q[n]), ms(med(s, 5)), ms(p99[ep]), ms(med(b, 5)),
            ms(med(b, 6)), ms(worst[s]), err[s]
        } else {
          k = ep SUBSEP label[ep]
          printf "%-15s %11.0f %11s %6s %12s %7s/%-8s %16s %9s %7d   (%s)\n", ep, med(k, 4), "-", "-", "",
            ms(med(k, 5)), ms(med(k, 6)), "-", ms(worst[k]), err[k], label[ep]
        }
      }
      print "\nTargets (stratad, durable writes, " conns " connections):"
      verdict("SetKeyValueItem >= 0.6x bare hyper req/s", "vox_set" in ratio,
        ratio["vox_set"] >= 0.6, sprintf("%.2fx", ratio["vox_set"]))
      verdict("GetKeyValueItem >= 0.8x bare hyper req/s", "vox_get" in ratio,
        ratio["vox_get"] >= 0.8, sprintf("%.2fx", ratio["vox_get"]))
      for (i = 1; i <= count; i++) {
        ep = eps[i]
        if (ep in p99) verdict("p99 <= 5 ms (median of rounds): " ep, 1, p99[ep] <= 5000, ms(p99[ep]) " ms")
      }
      # Other POSTs against SetKeyValueItem: median req/s; in brackets, the same normalized by
      # the bare-hyper pairs of each endpoint.
      split("keystore_post keyvalues_post appkeys_mix", others, " ")
      for (j = 1; j <= 3; j++) {
        ep = others[j]
        measured = (ep in rps) && ("vox_set" in rps) && rps["vox_set"] > 0 && ratio["vox_set"] > 0
        rel = measured ? rps[ep] / rps["vox_set"] : 0
        verdict(ep " within 20% of SetKeyValueItem", measured, rel >= 0.8,
          sprintf("%.2fx (%.2fx)", rel, measured ? ratio[ep] / ratio["vox_set"] : 0))
      }
    }
    function verdict(what, measured, ok, value) {
      if (!measured) { printf "  %-52s not measured\n", what; return }
      printf "  %-52s %-15s %s\n", what, value, ok ? "met" : "NOT met"
    }
  ' "$RESULTS"
}

# --------------------------------------------------------------------------------------------

: >"$RESULTS"
MACHINE="$(machine)"
echo "$MACHINE" >&2
start_stratad
start_bare
API_KEY=$(credential "c['keyvalues']['apps'][0]['api_key']")
for ep in $ENDPOINTS; do
  [[ -f "$SCRIPTS/$ep.lua" ]] || die "no script for endpoint $ep"
  bench_endpoint "$ep"
done
stratad_commits="$(metric strata_commits_total) commits in $(metric strata_commit_groups_total) groups"
for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
PIDS=()
if [[ "$COMPARE" == 1 ]]; then
  bench_redis
  bench_etcd
fi

echo
echo "$MACHINE"
echo "stratad engine over the whole run: $stratad_commits"
report
echo
echo "raw results (endpoint, server, round, req/s, p50 us, p99 us, status errors, socket errors, notes):"
cat "$RESULTS"
