"""New releases from git, an archive, another environment's code or WordPress's own
updater, built as the environment's user and checked before they can serve.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .._common import Failed, Refused, install_lib, mysql, node_command, run, say
from .clone import copy_current, finish_release, fresh_building_dir
from .config import table_prefix
from .env import Env
from .files import link_shared, safe_extract
from .layout import last_json

CONTAINERS = ("themes", "plugins", "mu-plugins")
# The node gets this file alone (standard library only), so the core's check of ``into``
# (deploy_source.INTO_RE) is repeated here rather than imported.
INTO_RE = re.compile(r"(themes|plugins|mu-plugins)/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def overlay(src: Path, building: Path, into: object = None) -> dict:
    """Merge a deployed tree into ``wp-content`` at the level operators think in: each
    theme under ``themes/``, each plugin under ``plugins/``, each mu-plugin replaces the
    same-named entry; any other top-level entry replaces its namesake; everything the tree
    does not mention is kept (``uploads`` is never touched). With ``into``
    (``themes/NAME``), the whole tree is that one theme or plugin. Returns the plan."""
    content = building / "wp-content"
    if into is not None:
        if not isinstance(into, str) or not INTO_RE.fullmatch(into):
            raise Refused(f"into {into!r} is not themes/NAME, plugins/NAME or "
                          "mu-plugins/NAME")
        entries = [(into, src)]
    else:
        refuse_single_package(src)
        entries = []
        for entry in sorted(src.iterdir()):
            if entry.name in (".git", "uploads"):
                continue
            if entry.name in CONTAINERS and entry.is_dir() and not entry.is_symlink():
                entries += [(f"{entry.name}/{child.name}", child)
                            for child in sorted(entry.iterdir())]
            else:
                entries.append((entry.name, entry))
    plan: dict[str, list[str]] = {"added": [], "replaced": [], "kept": []}
    for rel, source in entries:
        target = content / rel
        existed = target.is_symlink() or target.exists()
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, symlinks=True,
                            ignore=shutil.ignore_patterns(".git") if into else None)
        else:
            shutil.copy2(source, target, follow_symlinks=False)
        plan["replaced" if existed else "added"].append(rel)
    mentioned = {rel for rel, _ in entries}
    for container in CONTAINERS:
        if (content / container).is_dir():
            plan["kept"] += [f"{container}/{child.name}"
                             for child in sorted((content / container).iterdir())
                             if f"{container}/{child.name}" not in mentioned]
    return plan


def refuse_single_package(src: Path) -> None:
    """A repository that is one theme or plugin (style.css or a plugin header at its root)
    would spill its files into ``wp-content``: it needs ``into``."""
    if any((src / name).is_dir() for name in CONTAINERS):
        return
    style = src / "style.css"
    if style.is_file() and (found := re.search(r"Theme Name:\s*(.+)", style.read_text(
            errors="replace")[:8192])):
        raise Refused(f"the repository is one theme ({found.group(1).strip()}: style.css at "
                      f"its root): deploy it into themes/{slug_of(found.group(1))}")
    for php in sorted(src.glob("*.php")):
        if (found := re.search(r"Plugin Name:\s*(.+)", php.read_text(errors="replace")[:8192])):
            raise Refused(f"the repository is one plugin ({found.group(1).strip()}: {php.name} "
                          f"at its root): deploy it into plugins/{slug_of(found.group(1))}")


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:60] or "package"


def active_code(env: Env) -> dict:
    """The theme (stylesheet and template) and plugins WordPress runs now."""
    prefix = table_prefix(env)
    rows = mysql(f"SELECT option_name, option_value FROM `{prefix}options` WHERE option_name "
                 "IN ('template', 'stylesheet', 'active_plugins')", env.db_name)
    values = dict(line.split("\t", 1) for line in rows.splitlines() if "\t" in line)
    plugins = re.findall(r's:[0-9]+:"([^"]+)"', values.get("active_plugins", ""))
    return {"themes": sorted({values[k] for k in ("stylesheet", "template") if values.get(k)}),
            "plugins": plugins}


def missing_active_code(env: Env, building: Path) -> list[str]:
    """What the new release lacks of the active theme and plugins, in words."""
    content = building / "wp-content"
    active = active_code(env)
    missing = [f"the active theme {theme!r} (themes/{theme}/style.css)"
               for theme in active["themes"]
               if not (content / "themes" / theme / "style.css").is_file()]
    missing += [f"the active plugin {plugin!r} (plugins/{plugin})"
                for plugin in active["plugins"] if not (content / "plugins" / plugin).is_file()]
    return missing


def composer_install(env: Env, src: Path) -> None:
    if not (src / "composer.json").is_file():
        return
    if shutil.which("composer") is None:
        say("composer.json present but composer is not installed on the node: skipped")
        return
    as_user(env, ["composer", "install", "--no-dev", "--no-interaction", "--no-scripts",
                  "--no-plugins", "--prefer-dist", "--working-dir", str(src)],
            extra={"COMPOSER_HOME": str(src.parent / "composer")}, timeout=1200)
    say("composer install done")


def build_from(env: Env, release: Path, src: Path, data: dict) -> dict:
    """The new release: the current one with the tree merged in. Refused before anything
    serves it when it lacks the active theme or an active plugin (unless the operator
    allowed that)."""
    composer_install(env, src)
    building = fresh_building_dir(env, release)
    copy_current(env, building)
    try:
        plan = overlay(src, building, data.get("into") or None)
        missing = missing_active_code(env, building)
        if missing and not data.get("allow_missing") and not data.get("plan_only"):
            raise Refused("the new release lacks " + " and ".join(missing) + ": deactivate "
                          "it first, or deploy again allowing it")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    for kind in ("added", "replaced", "kept"):
        say(f"{kind}: {', '.join(plan[kind]) or '-'}")
    if data.get("plan_only"):
        shutil.rmtree(building, ignore_errors=True)
        for line in missing:
            say(f"would be refused: the release lacks {line}")
        say("plan only: nothing was built into a release, nothing switched")
        return {**plan, "missing": missing}
    for line in missing:
        say(f"warning: the release lacks {line} (allowed by the operator)")
    finish_release(env, building, release)
    say(f"built release {release.name}")
    return plan


def cmd_release_from_git(data: dict) -> dict:
    env = Env(data)
    release = env.release_dir(data.get("release"))
    repo, ref = data.get("repo"), data.get("ref")
    if not isinstance(repo, str) or not repo or repo.startswith("-") or re.search(r"\s", repo):
        raise Refused(f"repository {repo!r} is not valid")
    if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", ref) \
            or ref.startswith("-") or ".." in ref:
        raise Refused(f"ref {ref!r} is not valid")
    git_env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true",
               "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"}
    git = ["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null"]
    with user_workdir(env) as work:
        src = work / "src"
        # A repository on the node belongs to someone else; git before 2.40 reads
        # safe.directory only from the global file, not from -c.
        (work / "gitconfig").write_text("[safe]\n\tdirectory = *\n")
        git_env["GIT_CONFIG_GLOBAL"] = str(work / "gitconfig")
        say(f"cloning {repo} (as {env.user})")
        as_user(env, [*git, "clone", "--quiet", "--no-checkout", "--", repo, str(src)],
                extra=git_env, timeout=600)
        commit = ""
        for candidate in (f"origin/{ref}", ref):
            proc = as_user(env, [*git, "-C", str(src), "rev-parse", "--verify", "--quiet",
                                 "--end-of-options", f"{candidate}^{{commit}}"], check=False,
                           extra=git_env)
            if proc.returncode == 0:
                commit = proc.stdout.decode().strip()
                break
        if not commit:
            raise Failed(f"ref {ref} not found in {repo}")
        as_user(env, [*git, "-C", str(src), "checkout", "--quiet", "--detach", commit],
                extra=git_env)
        shutil.rmtree(src / ".git")
        say(f"checked out {ref} at {commit}")
        plan = build_from(env, release, src, data)
    return {"path": str(release), "commit": commit, "plan": plan}


def cmd_release_from_archive(data: dict) -> dict:
    env = Env(data)
    release = env.release_dir(data.get("release"))
    archive = data.get("archive")
    if not isinstance(archive, str) or not os.path.isfile(archive) or not re.search(
            r"\.(tar\.gz|tgz|tar\.zst|zip)$", archive):
        raise Refused(f"archive {archive!r} is not a .tar.gz, .tar.zst or .zip file")
    with user_workdir(env) as work:
        src = work / "src"
        local = work / ("archive" + "".join(Path(archive).suffixes[-2:]))
        shutil.copyfile(archive, local)
        shutil.chown(local, env.user, env.user)
        as_user(env, [*node_command("envctl"), "extract",
                      json.dumps({"archive": str(local), "dest": str(src)})])
        local.unlink()
        plan = build_from(env, release, src, data)
    return {"path": str(release), "plan": plan}


def cmd_extract(data: dict) -> dict:
    """Run as the environment's user: unpack a deploy archive (checked member by member)."""
    dest = Path(str(data.get("dest")))
    dest.mkdir(mode=0o750)
    safe_extract(Path(str(data.get("archive"))), dest)
    return {}


@contextlib.contextmanager
def user_workdir(env: Env):  # type: ignore[no-untyped-def]
    """A scratch directory the environment's user owns, for work on content from outside
    (git checkouts, archives, composer) done as that user; removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="deploy-", dir=env.dir / "tmp"))
    try:
        shutil.chown(work, env.user, env.user)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def as_user(env: Env, argv: list[str], extra: dict[str, str] | None = None,
            **kwargs) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    """``run`` as the environment's user, with nothing of root's environment (no root SSH
    agent, git or composer configuration); ``extra`` adds variables."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(env.dir / "tmp"), "LANG": "C.UTF-8",
             **(extra or {})}
    return run(argv, user=env.user, env=clean, **kwargs)


def cmd_update_release(data: dict) -> dict:
    """A new release: a copy of the current one, updated by WordPress's own upgrader as the
    environment's user (the copy is theirs while it runs, root's again afterwards)."""
    env = Env(data)
    release = env.release_dir(data.get("release"))
    helper = install_lib(data.get("wp_helper"), "wp_helper.php")
    packages = []
    with tempfile.TemporaryDirectory(dir=env.dir / "tmp") as work:
        shutil.chown(work, env.user, env.user)
        for package in data.get("packages") or []:
            kind, path = package.get("type"), package.get("path")
            if kind not in ("plugin", "theme") or not isinstance(path, str) or \
                    not path.endswith(".zip") or not os.path.isfile(path):
                raise Refused(f"package {package!r} is not a plugin/theme .zip on the node")
            local = Path(work) / f"{len(packages)}-{Path(path).name}"
            shutil.copyfile(path, local)
            shutil.chown(local, env.user, env.user)
            packages.append({"type": kind, "path": str(local)})
        building = fresh_building_dir(env, release)
        copy_current(env, building)
        link_shared(env, building)
        run(["chown", "-R", "--no-dereference", f"{env.user}:{env.user}", str(building)])
        proc = run(["php", helper, str(building), "update"], user=env.user, check=False,
                   input=json.dumps({"scope": data.get("scope", "all"), "url": env.url,
                                     "packages": packages}).encode(), timeout=1800)
        answer = last_json(proc.stdout)
        for line in answer.get("updated", []):
            say(f"updated {line}")
        if proc.returncode != 0 or not answer:
            shutil.rmtree(building, ignore_errors=True)
            why = "; ".join(answer.get("failed", [])) or (proc.stderr + proc.stdout).decode(
                errors="replace")[-1500:]
            raise Failed(f"the WordPress upgrader failed: {why}")
        finish_release(env, building, release)
    say(f"built release {release.name}: {len(answer.get('updated', []))} update(s)")
    return {"path": str(release), "updated": answer.get("updated", [])}
