# Real test nodes: bare Debian 12 (bookworm) and 13 (trixie) hosts booted with systemd-nspawn
# by tests/fleet/nspawn.py. This file prepares what they need on this machine: the tools,
# cached base root filesystems, a bridge with the host on 10.203.1.1 and an apt proxy on it
# (nodes have no route out; their own apt-get fetches through the host, like a VPS using its
# provider's mirror). Sourced after services.sh (uses its `log`, $RUN_DIR). Each function is
# idempotent and quiet when nothing needs doing. How it was worked out: /work/shared/nodes.md
# and docs/fleet-notes.md.

FLEET_CACHE="${PRESSLUFT_TEST_FLEET_CACHE:-/var/cache/pressluft-test}"
FLEET_BASES="$FLEET_CACHE/nodes"
FLEET_SUITES=(bookworm trixie)
# A bare VPS image: what a provider's minimal Debian has that matters to us (sshd, sudo,
# python3, systemd as PID 1). Nothing of the WordPress stack: provisioning installs that.
FLEET_INCLUDE=openssh-server,python3,sudo,systemd,systemd-sysv,dbus,iproute2,ca-certificates
FLEET_VARIANT=apt
FLEET_TOOLS=(mmdebstrap systemd-container apt-cacher-ng iproute2)
FLEET_BRIDGE=pl-br0
FLEET_HOST_ADDR=10.203.1.1
FLEET_PROXY_PORT=3142
FLEET_ACNG_DIR="$FLEET_CACHE/acng"   # cache kept across runs: warm installs need no download
FLEET_ACNG_RUN="$RUN_DIR/acng"       # pid file, socket, logs: per boot of this machine

ensure_fleet_tools() {
  local missing=() pkg out
  for pkg in "${FLEET_TOOLS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  out=$( { apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1) \
    || { echo "$out" >&2; return 1; }
  # The package's own daemon listens on every address; where an init script started it
  # (no policy-rc.d on that machine), stop it: ours runs on the bridge address only.
  local pid
  pid=$(cat /run/apt-cacher-ng/pid 2>/dev/null) || true
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = apt-cacher-ng ]; then
    kill "$pid"
  fi
}

# The URI of the machine's own Debian archive ($1 = "main") or security archive ($1 =
# "security"), read from its apt sources (one-line or deb822): the nodes get what the host
# gets, from where the host gets it.
fleet_mirror() {
  local want=$1 uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v want="$want" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        sec = ($(i + 1) ~ /-security$/)
        if ((want == "security") == sec && $(i + 1) !~ /-(updates|backports)$/) {
          print $i; exit } }')
  if [ -z "$uri" ]; then
    uri=$(awk -v want="$want" 'BEGIN { RS = ""; FS = "\n" } {
        uris = ""; suites = ""; types = ""
        for (j = 1; j <= NF; j++) {
          if ($j ~ /^URIs:/) { uris = $j; sub(/^URIs:[ \t]*/, "", uris) }
          if ($j ~ /^Suites:/) { suites = $j }
          if ($j ~ /^Types:/) { types = $j } }
        if (types !~ /deb( |$)/ || uris !~ /debian/) next
        sec = (suites ~ /-security/)
        if ((want == "security") == sec) { split(uris, u, " "); print u[1]; exit } }' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null)
  fi
  if [ -z "$uri" ]; then
    [ "$want" = security ] && uri=http://deb.debian.org/debian-security \
      || uri=http://deb.debian.org/debian
  fi
  echo "${uri%/}"
}

# Base root filesystems: one mmdebstrap tarball per suite (~40 s each, run in parallel),
# extracted once into $FLEET_BASES/<suite>/, which the nodes use as their overlay's read-only
# lower layer. The key covers what goes into a base, so changing the include list rebuilds.
build_node_bases() {
  local mirror suite key pids=() suites=() i rc=0 tar dir
  mirror=$(fleet_mirror main)
  mkdir -p "$FLEET_BASES"
  for suite in "${FLEET_SUITES[@]}"; do
    key="$suite $FLEET_VARIANT $FLEET_INCLUDE"
    tar="$FLEET_BASES/$suite.tar"
    if [ ! -f "$tar" ] || [ "$(cat "$tar.key" 2>/dev/null)" != "$key" ]; then
      log "building the $suite node base (mmdebstrap from $mirror)"
      rm -f "$tar" "$tar.key" "$FLEET_BASES/$suite.extracted"
      mmdebstrap --quiet --variant="$FLEET_VARIANT" --include="$FLEET_INCLUDE" \
        --format=tar "$suite" "$tar.part" "deb $mirror $suite main" \
        >"$FLEET_BASES/$suite.log" 2>&1 &
      pids+=($!)
      suites+=("$suite")
    fi
  done
  for i in "${!pids[@]}"; do
    suite=${suites[$i]}
    tar="$FLEET_BASES/$suite.tar"
    if wait "${pids[$i]}"; then
      mv "$tar.part" "$tar"
      echo "$suite $FLEET_VARIANT $FLEET_INCLUDE" > "$tar.key"
    else
      log "mmdebstrap $suite failed:"; tail -n 20 "$FLEET_BASES/$suite.log" >&2
      rm -f "$tar.part"; rc=1
    fi
  done
  [ "$rc" -eq 0 ] || return 1
  for suite in "${FLEET_SUITES[@]}"; do
    tar="$FLEET_BASES/$suite.tar"
    dir="$FLEET_BASES/$suite"
    cmp -s "$tar.key" "$FLEET_BASES/$suite.extracted" && [ -d "$dir" ] && continue
    # A base in use as a lower layer must not change under a mounted overlay.
    if grep -q "lowerdir=$dir[,: ]" /proc/mounts; then
      log "the $suite base is in use by a node overlay: not re-extracted"; return 1
    fi
    rm -rf "$dir" "$dir.part"
    mkdir -p "$dir.part"
    tar -C "$dir.part" --xattrs --xattrs-include='*' --numeric-owner -xpf "$tar" \
      || { rm -rf "$dir.part"; return 1; }
    mv "$dir.part" "$dir"
    cp "$tar.key" "$FLEET_BASES/$suite.extracted"
  done
}

# The bridge the nodes' veths join, the host's address on it, and apt-cacher-ng listening
# on that address only. Nodes use it as their archive ("deb http://10.203.1.1:3142/debian
# ..."): acng maps /debian and /debian-security to the host's own mirrors, for every suite.
start_fleet_network() {
  ip link show "$FLEET_BRIDGE" >/dev/null 2>&1 \
    || ip link add "$FLEET_BRIDGE" type bridge || return 1
  ip -4 addr show dev "$FLEET_BRIDGE" | grep -q "inet $FLEET_HOST_ADDR/24" \
    || ip addr add "$FLEET_HOST_ADDR/24" dev "$FLEET_BRIDGE" || return 1
  ip link set "$FLEET_BRIDGE" up
  # Never route the nodes' packets anywhere (they are test hosts with no way out), even on
  # a machine that forwards between its own interfaces; this bridge's setting only.
  sysctl -qw "net.ipv4.conf.$FLEET_BRIDGE.forwarding=0" 2>/dev/null || true
  start_fleet_proxy
}

start_fleet_proxy() {
  local conf="$FLEET_ACNG_DIR/conf" pid="" i
  mkdir -p "$conf" "$FLEET_ACNG_DIR/cache" "$FLEET_ACNG_RUN"
  chmod 755 "$RUN_DIR"
  chown apt-cacher-ng: "$FLEET_ACNG_DIR/cache" "$FLEET_ACNG_RUN"
  # Our own config directory: the package's /etc/apt-cacher-ng (listening everywhere) is
  # left alone, and so is the host's apt, which never uses this proxy.
  printf '%s\n' "CacheDir: $FLEET_ACNG_DIR/cache" "LogDir: $FLEET_ACNG_RUN" \
    "SupportDir: /usr/lib/apt-cacher-ng" "BindAddress: $FLEET_HOST_ADDR" \
    "Port: $FLEET_PROXY_PORT" "PidFile: $FLEET_ACNG_RUN/pid" \
    "SocketPath: $FLEET_ACNG_RUN/socket" "ExThreshold: 4" \
    "Remap-debrep: /debian ; $(fleet_mirror main)" \
    "Remap-secdeb: /debian-security ; $(fleet_mirror security)" > "$conf/acng.conf.new"
  [ -s "$FLEET_ACNG_RUN/pid" ] && pid=$(cat "$FLEET_ACNG_RUN/pid")
  # A pid from an earlier boot of the machine may belong to something else now; and with
  # $RUN_DIR wiped, ours is found by its command line (it would hold the port).
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = apt-cacher-ng ] || pid=""
  [ -n "$pid" ] || pid=$(pgrep -u apt-cacher-ng -xf "apt-cacher-ng -c $conf" | head -n 1)
  if [ -n "$pid" ] && [ -s "$FLEET_ACNG_RUN/pid" ] \
      && cmp -s "$conf/acng.conf.new" "$conf/acng.conf"; then
    rm -f "$conf/acng.conf.new"
    return 0
  fi
  if [ -n "$pid" ]; then kill "$pid"; sleep 0.3; fi
  mv "$conf/acng.conf.new" "$conf/acng.conf"
  log "starting apt-cacher-ng on $FLEET_HOST_ADDR:$FLEET_PROXY_PORT"
  runuser -u apt-cacher-ng -- apt-cacher-ng -c "$conf" || return 1
  for ((i = 0; i < 50; i++)); do
    (exec 3<>"/dev/tcp/$FLEET_HOST_ADDR/$FLEET_PROXY_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  log "apt-cacher-ng did not come up; see $FLEET_ACNG_RUN/apt-cacher.err"
  return 1
}

# Everything above, then the variables tests/fleet reads. On any failure the fleet tests
# skip (PRESSLUFT_TEST_FLEET stays unset) and the rest of the suite still runs.
prepare_fleet() {
  unset PRESSLUFT_TEST_FLEET
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "fleet: needs root and apt-get; the node tests will skip"
    return 0
  fi
  ensure_fleet_tools || { log "fleet: tools did not install; the node tests will skip"
    return 0; }
  build_node_bases || { log "fleet: no node bases; the node tests will skip"; return 0; }
  start_fleet_network || { log "fleet: no bridge or apt proxy; the node tests will skip"
    return 0; }
  PRESSLUFT_TEST_FLEET=1
  PRESSLUFT_TEST_FLEET_BASES=$FLEET_BASES
  PRESSLUFT_TEST_FLEET_BRIDGE=$FLEET_BRIDGE
  PRESSLUFT_TEST_FLEET_HOST=$FLEET_HOST_ADDR
  PRESSLUFT_TEST_FLEET_MIRROR="http://$FLEET_HOST_ADDR:$FLEET_PROXY_PORT/debian"
  PRESSLUFT_TEST_FLEET_SECURITY_MIRROR="http://$FLEET_HOST_ADDR:$FLEET_PROXY_PORT/debian-security"
  export PRESSLUFT_TEST_FLEET PRESSLUFT_TEST_FLEET_BASES PRESSLUFT_TEST_FLEET_BRIDGE \
    PRESSLUFT_TEST_FLEET_HOST PRESSLUFT_TEST_FLEET_MIRROR PRESSLUFT_TEST_FLEET_SECURITY_MIRROR
}
