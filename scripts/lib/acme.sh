# A local ACME server for the domain tests: pebble (Let's Encrypt's test ACME server) and
# pebble-challtestsrv (a DNS server whose records the tests set over HTTP), both from
# Debian's `pebble` package, started directly on loopback (no systemd here), in the
# background, idempotently. Sourced after services.sh (uses its `log` and $RUN_DIR).
#
# - challtestsrv answers DNS on 127.0.0.1:$ACME_DNS_PORT with no default answers (a name
#   resolves only once a test adds its A record through the management API on
#   127.0.0.1:$ACME_CHALLTESTSRV_PORT: POST /add-a {"host": "shop.test.", "addresses": [...]}).
#   Its own HTTP-01/TLS-ALPN-01 responders are off: nginx on :80 answers the challenges.
# - pebble serves ACME on https://127.0.0.1:$ACME_PEBBLE_PORT/dir, resolves names through
#   challtestsrv and validates HTTP-01 on port 80 (so against this machine's nginx) without
#   its random 0-15 s sleep and without rejecting nonces at random.
# - pebble's own HTTPS listener needs a certificate the Debian package does not ship: a
#   throw-away CA made here signs one for 127.0.0.1/localhost; certbot trusts it through
#   REQUESTS_CA_BUNDLE (the `acme_ca_bundle` setting). The CA that signs the *issued*
#   certificates is a different one, made anew by every pebble start: fetch it from
#   https://127.0.0.1:$ACME_PEBBLE_MGMT_PORT/roots/0 (saved as issuer-root.pem here).
#
# Exports PRESSLUFT_TEST_PEBBLE_DIR_URL, PRESSLUFT_TEST_PEBBLE_CA (the listener CA),
# PRESSLUFT_TEST_PEBBLE_MGMT_URL, PRESSLUFT_TEST_PEBBLE_ROOT (issuer root at start time),
# PRESSLUFT_TEST_CHALLTESTSRV_URL and PRESSLUFT_TEST_DNS_RESOLVER (host:port).

ACME_DIR="$RUN_DIR/pebble"
ACME_PEBBLE_PORT="${PRESSLUFT_TEST_PEBBLE_PORT:-14000}"
ACME_PEBBLE_MGMT_PORT="${PRESSLUFT_TEST_PEBBLE_MGMT_PORT:-15000}"
ACME_DNS_PORT="${PRESSLUFT_TEST_DNS_PORT:-8053}"
ACME_CHALLTESTSRV_PORT="${PRESSLUFT_TEST_CHALLTESTSRV_PORT:-8055}"

# True when the pid in file $1 is alive (not a zombie) and its command name is $2.
acme_running() {
  local pid stat
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  { read -r stat < "/proc/$pid/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

acme_install() {
  command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || return 1
  local out
  log "installing Debian package: pebble"
  export DEBIAN_FRONTEND=noninteractive
  out=$( { apt-get install -y -qq --no-install-recommends pebble \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends pebble; }; } 2>&1) \
    || { echo "$out" >&2; return 1; }
}

# The listener CA and a certificate for 127.0.0.1 and localhost, made once.
acme_listener_cert() {
  [ -s "$ACME_DIR/ca.pem" ] && [ -s "$ACME_DIR/cert.pem" ] && [ -s "$ACME_DIR/key.pem" ] \
    && return 0
  local tmp
  tmp=$(mktemp -d "$ACME_DIR/certs.XXXXXX")
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Pressluft test pebble listener CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.csr" 2>/dev/null || return 1
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" > "$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/cert.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null \
    || return 1
  chmod 600 "$tmp/ca.key" "$tmp/key.pem"
  chmod 644 "$tmp/ca.pem" "$tmp/cert.pem"
  mv "$tmp/ca.key" "$tmp/ca.pem" "$tmp/key.pem" "$tmp/cert.pem" "$ACME_DIR/"
  rm -rf "$tmp"
}

# Start $2... in the background unless pid file $1 names a live process called $3 that was
# started with the same command line ($ACME_DIR/<name>.cmd); restart it when that changed.
acme_daemon() {
  local name=$1 comm=$2 pid_file="$ACME_DIR/$1.pid" pid=""
  shift 2
  printf '%q ' "$@" > "$ACME_DIR/$name.cmd.new"
  if acme_running "$pid_file" "$comm" && cmp -s "$ACME_DIR/$name.cmd.new" "$ACME_DIR/$name.cmd"
  then
    rm -f "$ACME_DIR/$name.cmd.new"
    return 0
  fi
  pid=$(cat "$pid_file" 2>/dev/null) || true
  if [ -n "$pid" ] && acme_running "$pid_file" "$comm"; then kill "$pid"; sleep 0.3; fi
  mv "$ACME_DIR/$name.cmd.new" "$ACME_DIR/$name.cmd"
  log "starting $name"
  ACME_STARTED+=("$name")
  # The pid is written by the process itself: setsid forks when its caller leads a
  # process group (job control on), so $! would name a parent that exits at once.
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pid_file" "$@" </dev/null \
    >>"$ACME_DIR/$name.log" 2>&1 &
}

start_acme() {
  if [ "$(id -u)" -ne 0 ]; then
    log "pebble: needs root (nginx on :80 answers its challenges); the domain tests will skip"
    return 0
  fi
  acme_install || { log "pebble is not installed; the domain tests will skip"; return 0; }
  mkdir -p "$ACME_DIR"
  chmod 755 "$RUN_DIR" "$ACME_DIR"
  acme_listener_cert || { echo "pebble: could not make its listener certificate" >&2; return 1; }
  cat > "$ACME_DIR/pebble-config.json.new" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$ACME_PEBBLE_PORT",
 "managementListenAddress": "127.0.0.1:$ACME_PEBBLE_MGMT_PORT",
 "certificate": "$ACME_DIR/cert.pem", "privateKey": "$ACME_DIR/key.pem",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
JSON
  if cmp -s "$ACME_DIR/pebble-config.json.new" "$ACME_DIR/pebble-config.json"; then
    rm -f "$ACME_DIR/pebble-config.json.new"
  else
    mv "$ACME_DIR/pebble-config.json.new" "$ACME_DIR/pebble-config.json"
    rm -f "$ACME_DIR/pebble.cmd"  # new configuration: restart
  fi
  ACME_STARTED=()
  acme_daemon challtestsrv pebble-challtes pebble-challtestsrv -defaultIPv4 "" \
    -defaultIPv6 "" -dns01 "127.0.0.1:$ACME_DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$ACME_CHALLTESTSRV_PORT"
  acme_daemon pebble pebble env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$ACME_DIR/pebble-config.json" -dnsserver "127.0.0.1:$ACME_DNS_PORT"
  # A new pebble knows no accounts: certbot's saved one for it would be refused
  # (accountDoesNotExist), so certbot registers again.
  if [[ " ${ACME_STARTED[*]} " == *" pebble "* ]]; then
    rm -rf "/etc/letsencrypt/accounts/127.0.0.1:$ACME_PEBBLE_PORT"
  fi
  local i
  for ((i = 0; i < 200; i++)); do
    if curl -fsS -o /dev/null --cacert "$ACME_DIR/ca.pem" \
        "https://127.0.0.1:$ACME_PEBBLE_PORT/dir" 2>/dev/null \
      && curl -sS -o /dev/null "http://127.0.0.1:$ACME_CHALLTESTSRV_PORT/" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  curl -fsS --cacert "$ACME_DIR/ca.pem" -o "$ACME_DIR/issuer-root.pem" \
    "https://127.0.0.1:$ACME_PEBBLE_MGMT_PORT/roots/0" || {
    echo "pebble did not start; see $ACME_DIR/pebble.log and challtestsrv.log:" >&2
    tail -n 20 "$ACME_DIR/pebble.log" "$ACME_DIR/challtestsrv.log" >&2 2>/dev/null
    return 1
  }
  PRESSLUFT_TEST_PEBBLE_DIR_URL="https://127.0.0.1:$ACME_PEBBLE_PORT/dir"
  PRESSLUFT_TEST_PEBBLE_CA="$ACME_DIR/ca.pem"
  PRESSLUFT_TEST_PEBBLE_MGMT_URL="https://127.0.0.1:$ACME_PEBBLE_MGMT_PORT"
  PRESSLUFT_TEST_PEBBLE_ROOT="$ACME_DIR/issuer-root.pem"
  PRESSLUFT_TEST_CHALLTESTSRV_URL="http://127.0.0.1:$ACME_CHALLTESTSRV_PORT"
  PRESSLUFT_TEST_DNS_RESOLVER="127.0.0.1:$ACME_DNS_PORT"
  export PRESSLUFT_TEST_PEBBLE_DIR_URL PRESSLUFT_TEST_PEBBLE_CA PRESSLUFT_TEST_PEBBLE_MGMT_URL \
    PRESSLUFT_TEST_PEBBLE_ROOT PRESSLUFT_TEST_CHALLTESTSRV_URL PRESSLUFT_TEST_DNS_RESOLVER
}

stop_acme() {
  local name pid
  for name in pebble challtestsrv; do
    pid=$(cat "$ACME_DIR/$name.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null && log "stopped $name"
    rm -f "$ACME_DIR/$name.pid" "$ACME_DIR/$name.cmd"
  done
  return 0
}
