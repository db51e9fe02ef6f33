"""What a node runs, printed as one JSON line: OS release, init system and the versions of
the WordPress stack's servers. Fed to the node's ``python3`` on stdin by ``node_check`` and
``node_provision`` (stdlib only, no inputs, reads nothing but version banners). A missing
program is ``null``, never an error: a bare node has none of them yet."""

import glob
import json
import re
import subprocess

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def banner(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                              env={"PATH": PATH, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def version(text, pattern):
    match = re.search(pattern, text)
    return match.group(1) if match else None


def os_release():
    fields = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                fields[key] = value.strip().strip('"')
    except OSError:
        return None
    return fields.get("PRETTY_NAME") or fields.get("NAME")


def php_fpm():
    binaries = sorted(glob.glob("/usr/sbin/php-fpm[0-9]*"))
    return version(banner([binaries[-1], "-v"]), r"PHP (\d+\.\d+\.\d+)") if binaries else None


def mariadb():
    for program in ("mariadbd", "mysqld"):
        found = version(banner([program, "--version"]), r"Ver (\d+\.\d+\.\d+)")
        if found:
            return found
    return None


def main():
    with open("/proc/1/comm") as handle:
        init = handle.read().strip()
    print(json.dumps({
        "os_release": os_release(),
        "init": init,
        "php_version": php_fpm(),
        "mariadb_version": mariadb(),
        "nginx_version": version(banner(["nginx", "-v"]), r"nginx/(\d+\.\d+\.\d+)"),
    }, sort_keys=True))


main()
