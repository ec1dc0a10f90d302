"""Loaded into the schemathesis process (SCHEMATHESIS_HOOKS): `ast.parse` one thread at a time.

CPython 3.11.7's parser keeps its AST recursion depth in shared state: two threads parsing at
once can fail with `SystemError: AST constructor recursion depth mismatch`. Hypothesis parses
source files to describe the lambdas of filtered strategies, and schemathesis' coverage phase
does so from its worker threads, so a run could fail on any operation by chance (seen on
GET /analytics once POST /statements made the run's timing different). Each description is
cached, so the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

_lock = threading.Lock()
_parse = ast.parse


def _serial_parse(*args: Any, **kwargs: Any) -> Any:
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = _serial_parse
