"""Decoding JSON from outside: bounded, valid text, or ``BadInput`` naming the problem.

Every request body the product reads as JSON (webhooks, change events,
Slack's interaction payloads and button values) goes through ``parse_json``:

- strict UTF-8, standard JSON only (``NaN`` and ``Infinity`` are refused);
- nesting at most ``MAX_DEPTH`` deep. The C parser's own recursion guard
  stops absurd depths cheaply (its ``RecursionError`` is caught); the limit
  itself is checked on the parsed value, iteratively, before any model sees it;
- no lone surrogates: ``"\\ud800"`` is valid JSON but not valid text, and
  would fail later when the store or Slack encodes it. The walk that finds
  them runs only when the text holds such an escape at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import BadInput

MAX_DEPTH = 64
"""Deeper than any payload a sender or Slack produces (Alertmanager's is 4 deep)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = (dict, list)


def parse_json(body: bytes | str, *, what: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``body``; ``BadInput`` says why it is not acceptable."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{what} is not UTF-8: {exc.reason}") from None
    else:
        text = body
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON at line {exc.lineno} column {exc.colno} of the {what}: {exc.msg}"
        ) from None
    except RecursionError:
        raise BadInput(f"{what} is nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadInput(f"invalid JSON in {what}: {exc}") from None
    if _deeper_than(value, max_depth):
        raise BadInput(f"{what} is nested more than {max_depth} levels deep")
    if _SURROGATE_ESCAPE.search(text):
        where = _lone_surrogate(value)
        if where is not None:
            raise BadInput(
                f"invalid text in {what}: field '{where}' holds a lone surrogate (\\ud800-\\udfff)"
            )
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Level by level: no per-node allocations, so a wide value stays cheap."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 1
    while level:
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
        if level and depth >= limit:
            return True
        depth += 1
    return False


def _lone_surrogate(value: Any) -> str | None:
    """The path of the first string (or key) holding a surrogate, else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return path or "(body)"
        elif isinstance(node, dict):
            for key, child in node.items():
                where = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return _printable(where)
                stack.append((child, where))
        elif isinstance(node, list):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(node))
    return None


def _printable(path: str) -> str:
    return _SURROGATE.sub("\ufffd", path)
