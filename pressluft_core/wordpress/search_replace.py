"""The serialized-safe URL replacer, for the control plane and the tests.

The replacer runs on nodes, so it lives in the node package
(:mod:`pressluft_core.node.ctl.replacer`, standard library only, shipped in the node
zipapp); this module keeps the name the control plane, the benchmarks and the tests import
it by, and ``python -m pressluft_core.wordpress.search_replace OLD NEW`` runs it locally.
"""

from __future__ import annotations

import sys

from pressluft_core.node.ctl.replacer.cli import (
    SQL_MAYBE_SERIALIZED,
    Options,
    main,
    parse_args,
    sql_rewrites,
)
from pressluft_core.node.ctl.replacer.engine import Replacer
from pressluft_core.node.ctl.replacer.forms import USAGE, Form, build_forms, sql_escape
from pressluft_core.node.ctl.replacer.parallel import WorkerFailed, default_jobs, stream_parallel

__all__ = ["SQL_MAYBE_SERIALIZED", "USAGE", "Form", "Options", "Replacer", "WorkerFailed",
           "build_forms", "default_jobs", "main", "parse_args", "sql_escape", "sql_rewrites",
           "stream_parallel"]

if __name__ == "__main__":
    sys.exit(main())
