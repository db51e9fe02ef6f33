#!/usr/bin/env bash
# node_provision: install and configure the WordPress stack on a Debian 12 / Ubuntu 24.04
# node (DESIGN.md §6). Idempotent: each part first checks and changes only what differs, so
# a second run prints `no changes`. Inputs come as JSON on stdin (never as shell text):
#   {"sites_root": "/var/www/sites", "ssh_port": 22}
# Prints one line per change, then `changed: N` or `no changes`; exits non-zero on failure.
# Service handling without systemd follows docs/stack-notes.md (pitfalls 4–7).
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C

PACKAGES=(nginx php-fpm php-mysql php-gd php-xml php-mbstring php-zip php-curl php-intl
  mariadb-server mariadb-client rsync tar zstd curl certbot python3 git)
ACME_ROOT=/var/www/acme-challenge
ACME_SNIPPET=/etc/nginx/snippets/pressluft-acme.conf
DEFAULT_SITE=/etc/nginx/sites-available/pressluft-default
LOG_DIR=/var/log/pressluft
CHANGED=0

fail() { echo "provision: $*" >&2; exit 1; }
changed() { echo "$*"; CHANGED=$((CHANGED + 1)); }

[ "$(id -u)" -eq 0 ] || fail "must run as root"
command -v python3 >/dev/null || fail "python3 is required to read the inputs"

# Inputs: parsed and checked by python3; values reach the shell only as whole words.
INPUT=$(cat)
read -r SITES_ROOT SSH_PORT < <(python3 -c '
import json, re, sys
data = json.loads(sys.stdin.read() or "{}")
root = data.get("sites_root") or "/var/www/sites"
port = data.get("ssh_port", 22)
if not isinstance(root, str) or not re.fullmatch(r"/[A-Za-z0-9/._-]*", root) \
        or ".." in root.split("/") or root.rstrip("/") == "":
    sys.exit("provision: sites_root must be an absolute path of [A-Za-z0-9/._-] without ..")
if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
    sys.exit("provision: ssh_port must be a port number")
print(root.rstrip("/"), port)
' <<<"$INPUT") || fail "invalid input"

# -- packages: only the missing ones (apt-get install would upgrade present ones) --------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# A node that runs systemd can run a firewall: ufw comes with the stack there (Ubuntu has
# it already). Containers without systemd keep whatever their host filters.
[ -d /run/systemd/system ] && PACKAGES+=(ufw)
missing=()
for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Without systemd, package scripts print invoke-rc.d noise: shown only on failure.
  out=$( { apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1) \
    || { echo "$out" >&2; fail "apt-get install ${missing[*]} failed"; }
  changed "installed packages: ${missing[*]}"
fi

PHP_FPM=""
for bin in /usr/sbin/php-fpm[0-9]*; do [ -x "$bin" ] && PHP_FPM=$bin && break; done
[ -n "$PHP_FPM" ] || fail "php-fpm is not installed"
PHP_VERSION=${PHP_FPM##*php-fpm}

# -- services: systemd where it is PID 1, the daemons directly otherwise -----------------
alive() {  # pid is running and not a zombie (a non-init PID 1 reaps slowly)
  local stat
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
pid_running() {  # pid file $1 names a live process called $2
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && alive "$pid"
}
# service ensure|reload nginx|php-fpm|mariadb. `ensure` starts a stopped service (never
# restarts a running one); `reload` tests the configuration first, and is a no-op when the
# service is not running (the next `ensure` reads the new configuration anyway).
service() {
  local action=$1 name=$2 unit
  case $name in
    nginx) unit=nginx ;;
    php-fpm) unit=php$PHP_VERSION-fpm ;;
    mariadb) unit=mariadb ;;
    *) fail "unknown service $name" ;;
  esac
  if [ "$action" = reload ]; then
    case $name in
      nginx) nginx -t -q 2>&1 || fail "nginx configuration test failed" ;;
      php-fpm) "$PHP_FPM" -t >/dev/null 2>&1 || fail "php-fpm configuration test failed" ;;
      mariadb) return 0 ;;
    esac
  fi
  if [ -d /run/systemd/system ]; then
    if [ "$action" = ensure ]; then
      systemctl is-active --quiet "$unit" && return 0
      systemctl enable --now "$unit" >/dev/null 2>&1 || fail "systemctl start $unit failed"
      changed "started $unit"
    elif systemctl is-active --quiet "$unit"; then
      systemctl reload "$unit" || fail "systemctl reload $unit failed"
    fi
    return 0
  fi
  mkdir -p "$LOG_DIR"
  case "$action/$name" in
    ensure/nginx)
      pid_running /run/nginx.pid nginx && return 0
      nginx -t -q 2>&1 || fail "nginx configuration test failed"
      setsid nginx </dev/null >>"$LOG_DIR/nginx.out" 2>&1 || fail "nginx did not start"
      changed "started nginx" ;;
    reload/nginx)
      if pid_running /run/nginx.pid nginx; then nginx -s reload || fail "nginx reload failed"; fi ;;
    ensure/php-fpm)
      pid_running "/run/php/php$PHP_VERSION-fpm.pid" "php-fpm$PHP_VERSION" && return 0
      install -d -o www-data -g www-data -m 755 /run/php
      # Daemonizes; the parent returns once the pools are ready.
      setsid "$PHP_FPM" --fpm-config "/etc/php/$PHP_VERSION/fpm/php-fpm.conf" \
        </dev/null >>"$LOG_DIR/php-fpm.out" 2>&1 || fail "php-fpm did not start"
      changed "started php-fpm$PHP_VERSION" ;;
    reload/php-fpm)
      if pid_running "/run/php/php$PHP_VERSION-fpm.pid" "php-fpm$PHP_VERSION"; then
        kill -USR2 "$(cat "/run/php/php$PHP_VERSION-fpm.pid")"
      fi ;;
    ensure/mariadb)
      mariadb-admin ping >/dev/null 2>&1 && return 0
      install -d -o mysql -g root -m 755 /run/mysqld
      # Debian logs mysqld_safe to syslog, which may not run here; the helper writes the
      # log as mysql, so the file must be mysql's.
      touch "$LOG_DIR/mariadb.log"
      chown mysql: "$LOG_DIR/mariadb.log"
      setsid mysqld_safe --skip-syslog --log-error="$LOG_DIR/mariadb.log" \
        </dev/null >>"$LOG_DIR/mysqld_safe.out" 2>&1 &
      local i
      for ((i = 0; i < 600; i++)); do
        if mariadb-admin ping >/dev/null 2>&1; then changed "started mariadb"; return 0; fi
        sleep 0.1
      done
      tail -n 20 "$LOG_DIR/mariadb.log" >&2 || true
      fail "mariadb did not start" ;;
  esac
}

# -- files -----------------------------------------------------------------------------
write_file() {  # write_file PATH MODE < content; true when the file changed
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$1"
}

for dir in "$SITES_ROOT" "$ACME_ROOT/.well-known/acme-challenge"; do
  if [ ! -d "$dir" ]; then install -d -m 755 "$dir"; changed "created $dir"; fi
done

NGINX_CHANGED=0
if write_file "$ACME_SNIPPET" 644 <<CONF
# Managed by Pressluft (node_provision). ACME HTTP-01 challenges for every name: included
# by the default server and by every site's server block.
location ^~ /.well-known/acme-challenge/ {
    root $ACME_ROOT;
    default_type text/plain;
    try_files \$uri =404;
}
CONF
then
  changed "wrote $ACME_SNIPPET"
  NGINX_CHANGED=1
fi
LISTEN6=""
[ -f /proc/net/if_inet6 ] && LISTEN6="    listen [::]:80 default_server;"
if write_file "$DEFAULT_SITE" 644 <<CONF
# Managed by Pressluft (node_provision). Unknown hosts get no answer (444), except for
# ACME challenges, which are served for every name.
server {
    listen 80 default_server;
$LISTEN6
    server_name _;
    include $ACME_SNIPPET;
    location / {
        return 444;
    }
}
CONF
then
  changed "wrote $DEFAULT_SITE"
  NGINX_CHANGED=1
fi
if [ "$(readlink /etc/nginx/sites-enabled/pressluft-default 2>/dev/null)" != "$DEFAULT_SITE" ]; then
  ln -sfn "$DEFAULT_SITE" /etc/nginx/sites-enabled/pressluft-default
  changed "enabled the 444 default server"
  NGINX_CHANGED=1
fi
# Debian's stock site is a second default_server on :80: nginx -t would refuse both.
if [ -L /etc/nginx/sites-enabled/default ]; then
  rm -f /etc/nginx/sites-enabled/default
  changed "disabled the stock default site"
  NGINX_CHANGED=1
fi

# -- PHP-FPM: graceful reloads -----------------------------------------------------------
# Adding an environment's pool reloads PHP-FPM for every site on the node. With the default
# process_control_timeout of 0 the reload resets requests in flight (nginx answers 502);
# with a timeout, children finish their current request first.
FPM_CONF=/etc/php/$PHP_VERSION/fpm/php-fpm.conf
FPM_CHANGED=0
if ! grep -q '^process_control_timeout = 10s$' "$FPM_CONF"; then
  sed -i -e '/^;*process_control_timeout *=/d' "$FPM_CONF"
  sed -i -e '/^\[global\]/a process_control_timeout = 10s' "$FPM_CONF"
  changed "php-fpm: graceful reloads (process_control_timeout = 10s)"
  FPM_CHANGED=1
fi

# -- firewall --------------------------------------------------------------------------
if command -v ufw >/dev/null; then
  # Allow first, then deny the rest, then enable: never lock out the SSH session.
  for port in "$SSH_PORT" 22 80 443; do
    if ! ufw show added 2>/dev/null | grep -qx "ufw allow $port/tcp"; then
      ufw allow "$port/tcp" >/dev/null || fail "ufw allow $port/tcp failed"
      changed "firewall: allowed $port/tcp"
    fi
  done
  if ! grep -q '^DEFAULT_INPUT_POLICY="DROP"' /etc/default/ufw 2>/dev/null; then
    ufw default deny incoming >/dev/null || fail "ufw default deny failed"
    changed "firewall: incoming denied by default"
  fi
  if ! grep -q '^ENABLED=yes' /etc/ufw/ufw.conf 2>/dev/null; then
    ufw --force enable >/dev/null || fail "ufw enable failed"
    changed "firewall: enabled"
  fi
else
  echo "warning: ufw is not installed; no firewall configured (allow only 22, 80, 443)"
fi

# -- services --------------------------------------------------------------------------
service ensure mariadb
service ensure php-fpm
if [ "$FPM_CHANGED" = 1 ]; then service reload php-fpm; fi
if [ "$NGINX_CHANGED" = 1 ]; then service reload nginx; fi
service ensure nginx

if [ "$CHANGED" -gt 0 ]; then echo "changed: $CHANGED"; else echo "no changes"; fi
