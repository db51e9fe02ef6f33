# Shared by scripts/test and scripts/console: set-up steps, each idempotent and quiet
# when nothing needs doing.

VENV="${PRESSLUFT_VENV:-$ROOT/.venv}"
RUN_DIR="${PRESSLUFT_TEST_RUN_DIR:-/tmp/pressluft-test}"
PG_PORT="${PRESSLUFT_TEST_PG_PORT:-55432}"
DEBIAN_PACKAGES=(postgresql python3-venv)

log() { echo "== $*" >&2; }

ensure_debian_packages() {
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || return 0
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.pressluft-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing Python packages"
    "$VENV/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/pip" install -q -e ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c "import pressluft_core, textual, pytest" || {
      echo "Python packages did not install" >&2; exit 1; }
    touch "$stamp"
  fi
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)"
}

# PostgreSQL on 127.0.0.1:$PG_PORT with a throw-away cluster; trust auth on loopback only.
start_postgres() {
  local bin data as_pg=()
  bin=$(pg_bin) || { log "PostgreSQL not found: its tests will skip"; return 0; }
  data="$RUN_DIR/pg"
  mkdir -p "$RUN_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
    chmod 755 "$RUN_DIR"
  fi
  if ! "${as_pg[@]}" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then
    if [ ! -f "$data/PG_VERSION" ]; then
      rm -rf "$data"; mkdir -p "$data"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
      "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start -o \
      "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off \
       -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  fi
  PRESSLUFT_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
}
