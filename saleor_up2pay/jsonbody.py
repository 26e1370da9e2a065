"""JSON from outside (request bodies): parsed with a nesting limit, never a ``RecursionError``.

Python's parser recurses once per ``[`` or ``{``: a body of a few thousand brackets raises
``RecursionError`` inside it, and a less deep one can still exhaust the stack of whatever walks the
result later (validation, logging). :func:`loads` turns both into :class:`JsonTooDeep`, a
``ValueError``, so every caller's existing "not JSON" branch answers 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting accepted. Saleor's deliveries nest about 8 levels; the dashboard's, 4."""


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than :data:`MAX_JSON_DEPTH`."""


def loads(
    raw: bytes | str,
    *,
    parse_float: Callable[[str], Any] | None = None,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """``json.loads`` that raises ``ValueError`` (:class:`JsonTooDeep` included) on bad input."""
    try:
        value = json.loads(raw, parse_float=parse_float)
    except RecursionError:
        msg = "the JSON document is nested too deeply"
        raise JsonTooDeep(msg) from None
    if depth_exceeds(value, max_depth):
        msg = f"the JSON document nests deeper than {max_depth} levels"
        raise JsonTooDeep(msg)
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests lists and dicts deeper than ``max_depth`` (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
