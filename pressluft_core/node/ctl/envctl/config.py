"""The files an environment is served with: ``wp-config.php``, its PHP-FPM pool and its
nginx server block.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from .._common import ACME_SNIPPET, Failed, Refused, listens, wordpress_locations, write_if_changed
from .env import PREFIX_RE, Env

# -- WordPress config -------------------------------------------------------------------

def php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wp_config(env: Env, data: dict, salts: str) -> str:
    prefix = data.get("table_prefix", "wp_")
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        raise Refused(f"table_prefix {prefix!r} is not valid")
    quarantine = bool(data.get("quarantine"))
    lines = [
        "<?php",
        "// Managed by Pressluft: rewritten by every environment job, edits are lost.",
        "// wp-load.php defines ABSPATH before loading this file; a direct request does not.",
        "if (!defined('ABSPATH')) { exit; }",
        f"define('DB_NAME', {php_string(env.db_name)});",
        f"define('DB_USER', {php_string(env.db_name)});",
        f"define('DB_PASSWORD', {php_string(str(data['db_password']))});",
        "define('DB_HOST', 'localhost');",
        "define('DB_CHARSET', 'utf8mb4');",
        "define('DB_COLLATE', '');",
        f"define('WP_HOME', {php_string(env.url)});",
        f"define('WP_SITEURL', {php_string(env.url)});",
        "define('WP_ENVIRONMENT_TYPE', "
        f"{php_string(str(data.get('wp_environment', 'production')))});",
        "// Releases are immutable: updates are jobs (which run on a copy with this off).",
        "if (!defined('DISALLOW_FILE_MODS')) { define('DISALLOW_FILE_MODS', true); }",
        "define('AUTOMATIC_UPDATER_DISABLED', true);",
        f"define('WP_TEMP_DIR', {php_string(str(env.dir / 'tmp'))});",
        salts.rstrip(),
        f"$table_prefix = {php_string(prefix)};",
    ]
    if not data.get("cron", not quarantine):
        lines.append("define('DISABLE_WP_CRON', true);")
    if quarantine:
        mail_dir = php_string(str(env.dir / "mail"))
        lines += [
            "// Quarantine: outgoing mail is written to mail/ instead of being sent.",
            "function pressluft_capture_mail($short_circuit, $atts) {",
            "    $name = gmdate('Ymd\\THis\\Z') . '-' . bin2hex(random_bytes(4)) . '.json';",
            f"    file_put_contents({mail_dir} . '/' . $name, json_encode($atts));",
            "    return true;",
            "}",
            "$GLOBALS['wp_filter']['pre_wp_mail'][10][] = "
            "array('function' => 'pressluft_capture_mail', 'accepted_args' => 2);",
        ]
    lines += ["require_once ABSPATH . 'wp-settings.php';", ""]
    return "\n".join(lines)


def salts_for(env: Env) -> str:
    """Kept in a file of their own so rewriting wp-config.php does not log everybody out."""
    path = env.shared / "salts.php"
    if path.is_file():
        return path.read_text().split("\n", 1)[1]
    keys = ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
            "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"]
    body = "\n".join(f"define('{k}', '{secrets.token_urlsafe(48)}');" for k in keys) + "\n"
    write_if_changed(path, "<?php\n" + body, 0o400, env.user, "root")
    return body


def table_prefix(env: Env) -> str:
    text = (env.shared / "wp-config.php").read_text()
    match = re.search(r"^\$table_prefix = '([A-Za-z0-9_]+)';", text, re.M)
    if not match:
        raise Failed(f"no $table_prefix in {env.shared / 'wp-config.php'}")
    return match.group(1)


def pool_config(env: Env) -> str:
    return f"""; Managed by Pressluft: environment {env.env_id}
[{env.pool_name}]
user = {env.user}
group = {env.user}
listen = {env.socket}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 8
pm.process_idle_timeout = 30s
chdir = /
security.limit_extensions = .php
php_admin_value[upload_tmp_dir] = {env.dir}/tmp
php_admin_value[sys_temp_dir] = {env.dir}/tmp
php_admin_value[session.save_path] = {env.dir}/tmp
php_admin_value[error_log] = {env.dir}/logs/php-error.log
php_admin_flag[log_errors] = on
php_admin_value[upload_max_filesize] = 64M
php_admin_value[post_max_size] = 64M
"""


def nginx_config(env: Env, noindex: bool) -> str:
    """The preview server block: WordPress on port 80, or — for an https preview URL, with
    the wildcard certificate — on 443, port 80 then only answering ACME challenges and
    redirecting to https."""
    robots = '    add_header X-Robots-Tag "noindex, nofollow" always;\n' if noindex else ""
    wordpress = wordpress_locations(str(env.current), env.socket, env.pool_name, robots)
    head = f"# Managed by Pressluft: environment {env.env_id}\n"
    if env.tls_cert is None:
        return (f"{head}server {{\n{listens(80)}    server_name {env.server_name};\n"
                f"    include {ACME_SNIPPET};\n{wordpress}}}\n")
    live = Path("/etc/letsencrypt/live", env.tls_cert)
    if not (live / "fullchain.pem").is_file() or not (live / "privkey.pem").is_file():
        raise Failed(f"no certificate {env.tls_cert} on this node ({live}): an https preview "
                     "URL needs the wildcard preview certificate (`pressluft domain "
                     "preview-cert NODE`)")
    return (f"{head}server {{\n{listens(80)}    server_name {env.server_name};\n"
            f"    include {ACME_SNIPPET};\n"
            f"    location / {{ return 301 https://$host$request_uri; }}\n}}\n"
            f"server {{\n{listens(443, ' ssl http2')}    server_name {env.server_name};\n"
            f"    ssl_certificate {live}/fullchain.pem;\n"
            f"    ssl_certificate_key {live}/privkey.pem;\n{wordpress}}}\n")
