# The WordPress stack on this machine, for the real-node tests: Debian packages (nginx,
# PHP-FPM + the extensions WordPress needs, MariaDB, rsync, zstd, curl, git, php-cli, certbot),
# WordPress's own files taken from Debian's packages without Apache, and start/stop of
# MariaDB, PHP-FPM and nginx where systemd does not run. Each function is idempotent and quiet
# when nothing needs doing. Sourced after services.sh (uses its `log` and $RUN_DIR).
# What was verified by hand, timings and pitfalls: docs/stack-notes.md.

# Generic names (php-fpm, php-mysql, ...) so the list also fits Ubuntu's PHP version.
STACK_PACKAGES=(nginx php-fpm php-cli php-mysql php-gd php-xml php-mbstring php-zip php-curl
  php-intl mariadb-server mariadb-client rsync zstd curl git certbot)
# WordPress core: Debian's `wordpress` package depends on apache2|httpd, so it is not installed;
# its .deb is unpacked instead, with the packages its symlinks point into (getid3, cropper,
# underscore) and the default theme of its version (twentytwentythree for 6.1).
STACK_WP_DEBS=(wordpress wordpress-theme-twentytwentythree php-getid3 libjs-cropper
  libjs-underscore)
STACK_WP_DIR="${PRESSLUFT_TEST_WP_DIR:-/opt/pressluft-test/wordpress}"
STACK_LOG_DIR="$RUN_DIR/stack"
STACK_NGINX_PID=/run/nginx.pid
STACK_MARIADB_PID=/run/mysqld/mysqld.pid

# The php-fpm binary (/usr/sbin/php-fpm8.2 on Debian 12, php-fpm8.3 on Ubuntu 24.04).
stack_php_fpm() {
  local bin
  for bin in /usr/sbin/php-fpm[0-9]*; do
    [ -x "$bin" ] && { echo "$bin"; return 0; }
  done
  return 1
}

# True when process $1 exists and is not a zombie. The daemons here are reparented to PID 1,
# and a PID 1 that is not a real init (this machine's) reaps them only every second or two:
# an exited master stays a zombie that `kill -0` still reports alive.
stack_alive() {
  local stat
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# True when the pid in file $1 is alive and is a process named $2 (a stale pid file whose pid
# was reused by something else does not count).
stack_running() {
  local pid
  [ -s "$1" ] && pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && stack_alive "$pid"
}

# Wait up to $2 seconds for process $1 to exit.
stack_wait_gone() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    stack_alive "$1" || return 0
    sleep 0.05
  done
  return 1
}

install_wordpress_stack() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "WordPress stack: needs root and apt-get; not installed"
    return 0
  fi
  local missing=() pkg out
  for pkg in "${STACK_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package scripts print invoke-rc.d noise without systemd; shown only on failure.
    out=$( { apt-get update -qq \
      && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1) \
      || { echo "$out" >&2; return 1; }
  fi
  stack_disable_nginx_default_site
  stack_install_wordpress_files
}

# Debian's stock site is a default_server on *:80 and [::]:80 serving /var/www/html: not
# loopback, and a second `default_server` for port 80 (node provisioning writes its own, the
# 444 one) makes `nginx -t` fail. Only the stock symlink is removed; sites-available stays.
stack_disable_nginx_default_site() {
  local link=/etc/nginx/sites-enabled/default
  [ -L "$link" ] && [ "$(readlink "$link")" = /etc/nginx/sites-available/default ] || return 0
  log "nginx: disabling Debian's default site (listens on *:80)"
  rm -f "$link"
  if stack_running "$STACK_NGINX_PID" nginx; then nginx -s reload 2>/dev/null; fi
}

# A complete, self-contained WordPress core tree in $STACK_WP_DIR, laid out like the official
# tarball (index.php, wp-admin/, wp-includes/, wp-content/{plugins,themes}/,
# wp-config-sample.php), no symlinks, no wp-config.php: a site release copies it and links
# its own wp-config.php in. Delete $STACK_WP_DIR to fetch again (e.g. after a security update).
stack_install_wordpress_files() {
  [ -f "$STACK_WP_DIR/.pressluft-debs" ] && [ -f "$STACK_WP_DIR/wp-includes/version.php" ] \
    && return 0
  local tmp src deb out
  tmp=$(mktemp -d /tmp/pressluft-wp.XXXXXX)
  # APT::Sandbox::User=root: the _apt user cannot write into a root-owned mktemp dir.
  out=$(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "${STACK_WP_DEBS[@]}" 2>&1) \
    || out=$(cd "$tmp" && apt-get update -qq 2>&1 \
      && apt-get download -qq -o APT::Sandbox::User=root "${STACK_WP_DEBS[@]}" 2>&1) \
    || { echo "$out" >&2; rm -rf "$tmp"; return 1; }
  mkdir "$tmp/root"
  for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
    dpkg-deb -f "$deb" Package Version | sed 's/^[^:]*: //' | paste -sd' ' >> "$tmp/debs"
  done
  src="$tmp/root/usr/share/wordpress"
  # wp-config.php is Debian's loader of /etc/wordpress/config-<host>.php; .htaccess links to
  # /etc/wordpress/htaccess (Apache only). Neither belongs in a release.
  rm -f "$src/wp-config.php" "$src/.htaccess"
  # Relative links resolve inside $tmp/root (getid3, cropper, underscore unpacked there); the
  # one absolute link, wp-includes/certificates/ca-bundle.crt, to the system CA bundle.
  if [ -n "$(find "$src" -xtype l)" ]; then
    echo "WordPress files: dangling symlinks:" >&2
    find "$src" -xtype l -printf '  %p -> %l\n' >&2
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$STACK_WP_DIR")"
  rm -rf "$STACK_WP_DIR.new" "$STACK_WP_DIR.old"
  cp -RL --preserve=mode,timestamps "$src" "$STACK_WP_DIR.new"
  mv "$tmp/debs" "$STACK_WP_DIR.new/.pressluft-debs"
  [ -e "$STACK_WP_DIR" ] && mv "$STACK_WP_DIR" "$STACK_WP_DIR.old"
  mv "$STACK_WP_DIR.new" "$STACK_WP_DIR"
  rm -rf "$STACK_WP_DIR.old" "$tmp"
  log "WordPress $(sed -n "s/^\$wp_version = '\(.*\)';/\1/p" \
    "$STACK_WP_DIR/wp-includes/version.php") files in $STACK_WP_DIR"
}

# MariaDB, PHP-FPM (its Debian config and default pool) and nginx (its Debian config), with
# Debian's pid files and sockets, so whoever started them (this, an init script, a package
# postinst) is seen. MariaDB binds 127.0.0.1 (Debian's 50-server.cnf), PHP-FPM listens on a
# unix socket, nginx has no listener of its own once Debian's default site is disabled.
start_wordpress_stack() {
  if [ "$(id -u)" -ne 0 ]; then
    log "WordPress stack: needs root; not started"
    return 0
  fi
  mkdir -p "$STACK_LOG_DIR"
  chmod 755 "$RUN_DIR"
  local started=()
  stack_start_mariadb || return 1
  stack_start_php_fpm || return 1
  stack_start_nginx || return 1
  if [ ${#started[@]} -gt 0 ]; then
    local fpm names
    fpm=$(stack_php_fpm)
    names=$(IFS=,; echo "${started[*]}")
    log "started ${names//,/, }; stop with stop_wordpress_stack (scripts/lib/stack.sh)," \
      "or by hand: nginx -s quit; kill -QUIT \$(cat /run/php/php${fpm##*php-fpm}-fpm.pid);" \
      "mariadb-admin shutdown"
  fi
}

stack_start_mariadb() {
  command -v mysqld_safe >/dev/null || { echo "MariaDB is not installed" >&2; return 1; }
  if mariadb-admin ping >/dev/null 2>&1; then return 0; fi
  local log_file="$STACK_LOG_DIR/mariadb.log" i safe_pid=""
  if ! stack_running "$STACK_MARIADB_PID" mariadbd; then
    install -d -o mysql -g root -m 755 /run/mysqld
    # mysqld_safe restarts mariadbd if it crashes; Debian's [mysqld_safe] section logs to
    # syslog, which does not run here, hence the log file. Its helper writes that file as
    # the mysql user, so the file must be mysql's (else: exit 1, nothing started).
    touch "$log_file"
    chown mysql: "$log_file"
    setsid mysqld_safe --skip-syslog --log-error="$log_file" \
      </dev/null >>"$STACK_LOG_DIR/mysqld_safe.out" 2>&1 &
    safe_pid=$!
  fi
  for ((i = 0; i < 600; i++)); do
    if mariadb-admin ping >/dev/null 2>&1; then
      started+=(MariaDB)
      return 0
    fi
    # mysqld_safe lives as long as mariadbd: gone means mariadbd gave up.
    [ -n "$safe_pid" ] && ! stack_alive "$safe_pid" && break
    sleep 0.1
  done
  echo "MariaDB did not start; see $log_file:" >&2
  tail -n 20 "$log_file" "$STACK_LOG_DIR/mysqld_safe.out" >&2 2>/dev/null
  return 1
}

stack_start_php_fpm() {
  local bin ver pid_file out
  bin=$(stack_php_fpm) || { echo "php-fpm is not installed" >&2; return 1; }
  ver=${bin##*php-fpm}
  pid_file=/run/php/php$ver-fpm.pid
  stack_running "$pid_file" "php-fpm$ver" && return 0
  install -d -o www-data -g www-data -m 755 /run/php
  # Daemonizes; the parent returns once the master and its pools are ready.
  out=$("$bin" --fpm-config "/etc/php/$ver/fpm/php-fpm.conf" 2>&1) \
    || { echo "php-fpm$ver did not start: $out" >&2; return 1; }
  started+=("PHP-FPM $ver")
}

stack_start_nginx() {
  local out
  stack_running "$STACK_NGINX_PID" nginx && return 0
  out=$(nginx -t -q 2>&1 && nginx 2>&1) || { echo "nginx did not start: $out" >&2; return 1; }
  started+=(nginx)
}

stop_wordpress_stack() {
  [ "$(id -u)" -eq 0 ] || return 0
  local pid bin ver
  if stack_running "$STACK_NGINX_PID" nginx; then
    pid=$(cat "$STACK_NGINX_PID")
    log "stopping nginx"
    nginx -s quit 2>/dev/null
    stack_wait_gone "$pid" 10 || kill -TERM "$pid" 2>/dev/null
  fi
  if bin=$(stack_php_fpm); then
    ver=${bin##*php-fpm}
    if stack_running "/run/php/php$ver-fpm.pid" "php-fpm$ver"; then
      pid=$(cat "/run/php/php$ver-fpm.pid")
      log "stopping PHP-FPM $ver"
      kill -QUIT "$pid"
      stack_wait_gone "$pid" 10 || kill -TERM "$pid" 2>/dev/null
    fi
  fi
  if mariadb-admin ping >/dev/null 2>&1 || stack_running "$STACK_MARIADB_PID" mariadbd; then
    pid=$(cat "$STACK_MARIADB_PID" 2>/dev/null)
    log "stopping MariaDB"
    # Returns once the server has shut down; mysqld_safe then exits by itself.
    mariadb-admin shutdown 2>/dev/null || { [ -n "$pid" ] && kill -TERM "$pid"; }
    [ -n "$pid" ] && stack_wait_gone "$pid" 60
  fi
  return 0
}
