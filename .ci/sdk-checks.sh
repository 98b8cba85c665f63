#!/usr/bin/env bash
# Runs the official vendor SDKs as clients of a local stratad (docs/sdk-checks.md):
# Voximplant's Python SDK over TLS, Elastic Path's and Baasic's JavaScript SDKs.
#
# Installs what a fresh Debian machine lacks (python3-venv, nodejs, npm), the SDKs (pinned: a
# venv in target/sdk-checks/venv, tools/sdk-checks/node_modules from its package-lock.json),
# builds stratad (debug), then per check starts one stratad on 127.0.0.1 with a fresh data
# directory and a free port, runs the check, and stops the daemon. Exits non-zero if any check
# fails or any daemon does not stop cleanly. Idempotent; every step is bounded in time. The
# checks talk to 127.0.0.1 only (installing talks to the package registries).
set -euo pipefail
cd "$(dirname "$0")/.."

# Time bounds, in seconds.
APT_TIMEOUT_SECS=900
PIP_TIMEOUT_SECS=600
NPM_TIMEOUT_SECS=600
BUILD_TIMEOUT_SECS=3600
CERT_TIMEOUT_SECS=60
START_TIMEOUT_SECS=30
CHECK_TIMEOUT_SECS=180
STOP_TIMEOUT_SECS=30
# fetch() is global from Node 18 on; jsdom 26 needs 18 too.
NODE_MAJOR_MIN=18

CHECKS_DIR=tools/sdk-checks
VENV=target/sdk-checks/venv
STRATAD=${CARGO_TARGET_DIR:-target}/debug/stratad
NPM_STAMP=$CHECKS_DIR/node_modules/.strata-package-lock.json

say() { echo "sdk-checks: $*"; }
die() {
  say "$*" >&2
  exit 1
}

# The daemons get their settings from the command line only, and checks reach 127.0.0.1
# directly even when a proxy is configured for the installs.
unset STRATA_CONFIG STRATA_DATA_DIR STRATA_LISTEN NOTIFY_SOCKET
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# ---------------------------------------------------------------------------------------------
# Installation

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing $*, and there is no apt-get to install it"
  say "installing $* (apt-get)"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root timeout "$APT_TIMEOUT_SECS" apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT_SECS" \
    apt-get install -y -qq --no-install-recommends "$@"
}

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$NODE_MAJOR_MIN" ]
}

install_tools() {
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3 python3-venv
  fi
  if ! node_ok; then
    apt_install nodejs npm
    node_ok || die "need Node.js >= $NODE_MAJOR_MIN with npm (found: $(node --version 2>/dev/null || echo none))"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust first (.ci/run does)"
}

install_sdks() {
  if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "creating $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
  fi
  # A no-op (and no network) when the pinned versions are already installed.
  timeout "$PIP_TIMEOUT_SECS" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$CHECKS_DIR/voximplant/requirements.txt"

  if ! cmp -s "$CHECKS_DIR/package-lock.json" "$NPM_STAMP"; then
    say "installing the JavaScript SDKs (npm ci)"
    # No install scripts: none of the packages needs one to work.
    (cd "$CHECKS_DIR" && timeout "$NPM_TIMEOUT_SECS" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$CHECKS_DIR/package-lock.json" "$NPM_STAMP"
  fi
}

# ---------------------------------------------------------------------------------------------
# One daemon at a time

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-sdk-checks.XXXXXX")
PID=
ADDR=
LOG=

# start_stratad NAME [ARGS...]: starts stratad on 127.0.0.1 with a free port and the data
# directory $WORK/NAME/data; sets PID, ADDR (host:port) and LOG.
start_stratad() {
  local name=$1
  shift
  mkdir -p "$WORK/$name"
  LOG=$WORK/$name/stratad.log
  RUST_LOG=info "$STRATAD" --listen 127.0.0.1:0 --data-dir "$WORK/$name/data" "$@" >"$LOG" 2>&1 &
  PID=$!
  ADDR=
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  # The daemon logs the bound address once it serves (port 0: the kernel picked it).
  until ADDR=$(sed -n 's/.* serving addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$LOG" | head -n 1) && [ -n "$ADDR" ]; do
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID" || true
      PID=
      say "$name: stratad exited during start"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name: stratad did not serve within ${START_TIMEOUT_SECS}s"
      stop_stratad || true
      return 1
    fi
    sleep 0.2
  done
}

# Stops the daemon with SIGTERM (SIGKILL after STOP_TIMEOUT_SECS); fails unless it exits 0.
stop_stratad() {
  [ -n "$PID" ] || return 0
  local pid=$PID status=0 i
  PID=
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT_SECS * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -KILL "$pid" 2>/dev/null; then
    say "stratad did not stop within ${STOP_TIMEOUT_SECS}s: killed"
  fi
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    say "stratad exited with status $status after SIGTERM"
    return 1
  fi
}

cleanup() {
  stop_stratad >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

secret() { od -An -N18 -tx1 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------------------------------------
# The checks (each starts its daemon; run_check stops it)

# Zero-config start over TLS: the SDK loads the generated voximplant-credentials.json as is.
check_voximplant() {
  local tls=$WORK/voximplant-tls
  mkdir -p "$tls"
  timeout "$CERT_TIMEOUT_SECS" "$VENV/bin/python" "$CHECKS_DIR/voximplant/make_cert.py" "$tls" || return 1
  start_stratad voximplant --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" || return 1
  REQUESTS_CA_BUNDLE=$tls/ca.pem timeout "$CHECK_TIMEOUT_SECS" \
    "$VENV/bin/python" "$CHECKS_DIR/voximplant/check.py" \
    --endpoint "$ADDR" --credentials "$WORK/voximplant/data/voximplant-credentials.json"
}

# A config file declaring the store (the other dialects get generated credentials).
check_elasticpath() {
  local id secret_ rate_limit=100 config=$WORK/elasticpath.toml
  id=$(secret)
  secret_=$(secret)
  cat >"$config" <<EOF
[[app_keys.stores]]
store_id = "sdk-check-store"
rate_limit = $rate_limit
client_id = "$id"
client_secret = "$secret_"
EOF
  start_stratad elasticpath --config "$config" || return 1
  STRATA_HOST=$ADDR EP_CLIENT_ID=$id EP_CLIENT_SECRET=$secret_ EP_RATE_LIMIT=$rate_limit \
    timeout "$CHECK_TIMEOUT_SECS" node "$CHECKS_DIR/elasticpath/check.js"
}

check_baasic() {
  local password config=$WORK/baasic.toml
  password=$(secret)
  cat >"$config" <<EOF
[[keyvalues.apps]]
api_key = "sdkcheck"
[[keyvalues.apps.users]]
username = "sdk-user"
password = "$password"
[[keyvalues.apps]]
api_key = "sdkcors"
[[keyvalues.apps.users]]
username = "sdk-user"
password = "$password"
EOF
  start_stratad baasic --config "$config" || return 1
  say "-- same origin, no path prefix"
  STRATA_HOST=$ADDR BAASIC_API_KEY=sdkcheck BAASIC_USERNAME=sdk-user BAASIC_PASSWORD=$password \
    timeout "$CHECK_TIMEOUT_SECS" node "$CHECKS_DIR/baasic/check.js" || return 1
  say "-- cross-origin page (CORS) with the SDK's default /v1 prefix"
  STRATA_HOST=$ADDR BAASIC_API_KEY=sdkcors BAASIC_USERNAME=sdk-user BAASIC_PASSWORD=$password \
    BAASIC_PAGE_ORIGIN=http://app.example.test \
    timeout "$CHECK_TIMEOUT_SECS" node "$CHECKS_DIR/baasic/check.js"
}

FAILED=()
run_check() {
  local name=$1 status=0 started=$SECONDS
  say "== $name"
  "check_$name" || status=$?
  stop_stratad || status=1
  if [ "$status" -ne 0 ]; then
    FAILED+=("$name")
    if [ -n "$LOG" ] && [ -f "$LOG" ]; then
      say "$name FAILED; last lines of its stratad log:"
      tail -n 30 "$LOG"
    else
      say "$name FAILED"
    fi
  else
    say "$name passed ($((SECONDS - started))s)"
  fi
  LOG=
}

# ---------------------------------------------------------------------------------------------

install_tools
install_sdks
say "building stratad"
timeout "$BUILD_TIMEOUT_SECS" cargo build -q -p strata-server --bin stratad

run_check voximplant
run_check elasticpath
run_check baasic

if [ "${#FAILED[@]}" -ne 0 ]; then
  die "FAILED: ${FAILED[*]} (total ${SECONDS}s)"
fi
say "all SDK checks passed (total ${SECONDS}s)"
