"""The node-side scripts (``pressluft_core/node/*.py``) loaded as modules, so their rules
can be tested on files and strings here without a node."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from pressluft_core.jobs.handlers.envctl import NODE_DIR


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, NODE_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
