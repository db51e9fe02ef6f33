"""The node package (issue 16): built into one deterministic zipapp that the nodes run
with nothing but ``python3``, every tool behind one entry point with its own command line,
and each file small enough to read."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

from pressluft_core.jobs.handlers.envctl import HELPERS, NODE
from pressluft_core.node import bundle


def run(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-I", bundle.local_copy(), *args], input=data,
                          capture_output=True, timeout=60, check=False)


def test_two_builds_give_the_same_bytes_and_so_the_same_upload_name() -> None:
    first, second = bundle.build(), bundle.build()
    assert first == second
    assert HELPERS[NODE] == first
    assert Path(bundle.local_copy()).name == \
        f"{hashlib.sha256(first).hexdigest()[:16]}-pressluft-node.pyz"


def test_the_build_holds_every_module_at_a_fixed_time_in_name_order() -> None:
    with zipfile.ZipFile(BytesIO(bundle.build())) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert {"ctl/main.py", "ctl/_common.py", "ctl/envctl/cli.py", "ctl/domainctl/cli.py",
            "ctl/replacer/cli.py", "ctl/sqlguard/guard.py"} <= set(names)
    assert {info.date_time for info in infos} == {bundle.STAMP}
    assert not any("__pycache__" in name or not name.endswith(".py") for name in names)


def test_the_entry_point_and_each_tool_answer_bad_arguments_with_usage_and_exit_2() -> None:
    done = run()
    assert done.returncode == 2 and b"usage: pressluft-node.pyz {envctl|domainctl" in done.stderr
    done = run("envctl")
    assert done.returncode == 2 and b"usage: pressluft-node.pyz envctl {prepare|" in done.stderr
    done = run("envctl", "no-such-command")
    assert done.returncode == 2 and b"backup-stream|" in done.stderr
    done = run("domainctl", "nope")
    assert done.returncode == 2 and b"usage: pressluft-node.pyz domainctl" in done.stderr
    done = run("search-replace")
    assert done.returncode == 2 and done.stderr.startswith(b"usage: search_replace.py")


def test_the_tools_run_from_the_zipapp() -> None:
    done = run("search-replace", "http://old.example", "https://new.example",
               data=b"see http://old.example/x\n")
    assert (done.returncode, done.stdout) == (0, b"see https://new.example/x\n")
    done = run("sqlguard", data=b"GRANT ALL ON *.* TO 'x'@'%';\n")
    assert done.returncode == 2 and b"sqlguard: refused: line 1:" in done.stderr
    done = run("envctl", "take-result", '{"path": "/etc/passwd"}')
    assert done.returncode == 2
    assert done.stderr == (b"envctl: /etc/passwd is not a result file\n" if os.geteuid() == 0
                           else b"envctl: must run as root\n")


def test_the_node_package_is_stdlib_only_with_python_3_9_syntax() -> None:
    """Every file of the node package (the replacer among them): nodes run it with their
    own ``python3``; relative imports (level > 0) stay inside the package."""
    for path in sorted(bundle.SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path), feature_version=(3, 9))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, (path, imported)


def test_every_file_of_the_node_package_stays_under_400_lines() -> None:
    long = {str(path.relative_to(bundle.SOURCE)): len(path.read_text().splitlines())
            for path in bundle.SOURCE.rglob("*.py")}
    assert {name: lines for name, lines in long.items() if lines >= 400} == {}


def test_every_envctl_command_names_a_function_it_imports_on_demand() -> None:
    from pressluft_core.node.ctl.envctl import cli

    for table in (cli.COMMANDS, cli.STREAM_COMMANDS):
        for name, where in table.items():
            assert callable(cli.command_named(where)), name
    assert set(cli.RAW_OUTPUT) | set(cli.AS_ENVIRONMENT_USER) <= set(cli.STREAM_COMMANDS)
