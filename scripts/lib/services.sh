# Shared by scripts/test and scripts/console: set-up steps, each idempotent and quiet
# when nothing needs doing.

VENV="${PRESSLUFT_VENV:-$ROOT/.venv}"
RUN_DIR="${PRESSLUFT_TEST_RUN_DIR:-/tmp/pressluft-test}"
PG_PORT="${PRESSLUFT_TEST_PG_PORT:-55432}"
SSHD_PORT="${PRESSLUFT_TEST_SSHD_PORT:-2222}"
SSHD_USER=pressluft-node
DEBIAN_PACKAGES=(postgresql python3-venv openssh-server sudo)

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

# OpenSSH sshd on 127.0.0.1:$SSHD_PORT for the tests and benchmarks that need a real node
# (root only: it creates a user). Logins: key only, as $SSHD_USER, a dedicated node user
# with a clean shell (bash, empty rc files) and passwordless sudo, like a production node
# user; tests append their key to $RUN_DIR/sshd/authorized_keys/$SSHD_USER (root-owned).
start_sshd() {
  if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
    log "sshd: needs root and openssh-server; the real-sshd tests will skip"
    return 0
  fi
  local dir="$RUN_DIR/sshd" home="/var/lib/$SSHD_USER" rc pid=""
  mkdir -p "$dir/authorized_keys" /run/sshd
  chmod 755 "$RUN_DIR" "$dir" "$dir/authorized_keys"
  if ! id -u "$SSHD_USER" >/dev/null 2>&1; then
    useradd --system --create-home --home-dir "$home" --shell /bin/bash "$SSHD_USER"
  fi
  # No password, but not locked either ("!"): without PAM, sshd refuses locked accounts.
  usermod -p '*' "$SSHD_USER"
  for rc in .bashrc .profile .bash_profile .bash_logout; do
    : > "$home/$rc"
    chown "$SSHD_USER:" "$home/$rc"
  done
  if [ -d /etc/sudoers.d ]; then
    echo "$SSHD_USER ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/pressluft-node
    chmod 0440 /etc/sudoers.d/pressluft-node
  fi
  touch "$dir/authorized_keys/$SSHD_USER"
  chmod 644 "$dir/authorized_keys/$SSHD_USER"
  [ -f "$dir/ssh_host_ed25519_key" ] \
    || ssh-keygen -q -t ed25519 -N '' -C pressluft-test-sshd -f "$dir/ssh_host_ed25519_key"
  printf '%s\n' "Port $SSHD_PORT" "ListenAddress 127.0.0.1" \
    "HostKey $dir/ssh_host_ed25519_key" "PidFile $dir/sshd.pid" \
    "AuthorizedKeysFile $dir/authorized_keys/%u" "AllowUsers $SSHD_USER" \
    "PermitRootLogin no" "PubkeyAuthentication yes" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "UsePAM no" "StrictModes no" \
    "MaxSessions 200" "MaxStartups 200:30:400" "LogLevel INFO" > "$dir/sshd_config.new"
  [ -f "$dir/sshd.pid" ] && pid=$(cat "$dir/sshd.pid")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
      && cmp -s "$dir/sshd_config.new" "$dir/sshd_config"; then
    rm -f "$dir/sshd_config.new"
  else
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then sleep 0.3; fi
    mv "$dir/sshd_config.new" "$dir/sshd_config"
    log "starting sshd on 127.0.0.1:$SSHD_PORT (user $SSHD_USER)"
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
  fi
  PRESSLUFT_TEST_SSHD_PORT=$SSHD_PORT
  PRESSLUFT_TEST_SSHD_USER=$SSHD_USER
  export PRESSLUFT_TEST_SSHD_PORT PRESSLUFT_TEST_SSHD_USER
}
