"""A tenant's Prometheus rule file: read it, and propose edits as a unified diff.

The file is parsed with PyYAML twice over the same text: ``safe_load`` for
the values (``groups[].rules[]`` with ``alert``, ``expr``, ``for``,
``labels``), ``compose`` for where each value sits. Edits are made on the
original lines at those positions (a ``for:`` value replaced in place, a
``for:`` line inserted after ``expr``, a threshold's digits swapped), so
comments, quoting and layout survive; the YAML is never dumped again.

A file that is not a rule file raises ``BadInput`` naming the file and the
field (``groups[0].rules[2].for``), which the CLI turns into exit code 2.

The same ``Rule`` also comes from a live Prometheus (``/api/v1/rules``, read by
the metrics adapter): ``LiveRules``. Such a rule has no file, so it is marked
``written=False`` with neutral line fields; nothing edits it (no diff), and
noise advice proposes its change as a line of text instead.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from shared.errors import BadInput

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_COMPARISON = re.compile(
    r"^(?P<lhs>.*?\S)\s*(?P<op>>=|>)\s*(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$",
    re.DOTALL,
)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NOT_SIMPLE = re.compile(r"\b(?:and|or|unless|bool)\b|[<>]|==")
"""In the left-hand side (outside label values): another comparison or a set operation."""


def parse_duration(text: str) -> timedelta:
    """A Prometheus duration (``90s``, ``1h30m``) as a timedelta; ``ValueError`` otherwise."""
    text = text.strip()
    if text == "0":  # Prometheus accepts a bare zero
        return timedelta(0)
    if not _DURATION.match(text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus spelling: 600 s -> ``10m``, 5400 s -> ``1h30m``, 0 -> ``0s``."""
    seconds = round(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def round_up_duration(value: timedelta) -> timedelta:
    """Up to a duration a person writes: whole minutes to 10 min, then steps of 5, 15, 60 min."""
    minutes = max(1, math.ceil(value.total_seconds() / 60 - 1e-9))
    for limit, step in ((10, 1), (30, 5), (120, 15)):
        if minutes <= limit:
            return timedelta(minutes=math.ceil(minutes / step) * step)
    return timedelta(hours=math.ceil(minutes / 60))


def round_down_duration(value: timedelta) -> timedelta:
    """Down to a duration a person would write (the same steps as ``round_up_duration``)."""
    minutes = math.floor(value.total_seconds() / 60 + 1e-9)
    for limit, step in ((10, 1), (30, 5), (120, 15)):
        if minutes <= limit:
            return timedelta(minutes=minutes // step * step)
    return timedelta(hours=minutes // 60)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``lhs > number`` (or ``>=``): the only expression a threshold is proposed for."""

    lhs: str
    op: str
    value: float
    text: str
    """The number as written, so an edit replaces exactly it."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting rule and where it is written (0-based line numbers)."""

    group: str
    index: int
    """Position among every alerting rule of the file."""
    path: str
    """``groups[g].rules[r]``: how messages name it."""
    alert: str
    expr: str
    for_: timedelta
    for_text: str | None
    labels: Mapping[str, str]
    key_column: int
    """Indentation of the rule's keys (where an inserted ``for:`` goes)."""
    for_line: int | None
    for_span: tuple[int, int] | None
    """Columns of the ``for`` value on ``for_line``."""
    expr_span: tuple[int, int, int, int]
    """Where the ``expr`` value is written: first line and column, last line and column."""
    insert_at: int
    """Line before which a new ``for:`` is inserted (the key after ``expr``, or the rule's end)."""
    flow: bool
    """Written in flow style (``{alert: ..., expr: ...}``): no line edits proposed."""
    written: bool = True
    """False when read from Prometheus' API: no file, the line fields above are zeros
    (``api_rule``) and ``apply_edits`` leaves the rule alone."""

    @property
    def threshold(self) -> Threshold | None:
        """The comparison, when ``expr`` is one simple ``lhs > number``."""
        match = _COMPARISON.match(self.expr.strip())
        if match is None or _NOT_SIMPLE.search(_QUOTED.sub('""', match["lhs"])):
            return None
        return Threshold(match["lhs"], match["op"], float(match["number"]), match["number"])

    def matches(self, name: str, labels: Mapping[str, str]) -> int | None:
        """How many of the rule's fixed labels an alert carries, or None when it is not this rule's.

        Prometheus puts every label of the rule on the alerts it fires; a
        templated value (``{{ $labels.x }}``) can be anything, so it is not compared.
        """
        if name != self.alert:
            return None
        score = 0
        for key, value in self.labels.items():
            if "{{" in value:
                continue
            if key in labels:
                if labels[key] != value:
                    return None
                score += 1
        return score


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: Path
    text: str
    rules: tuple[Rule, ...]

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines(keepends=True)


@dataclass(frozen=True, slots=True)
class LiveRules:
    """The alerting rules a Prometheus serves (``/api/v1/rules``), or why they could not be read."""

    source: str
    """Where they came from, for people: ``Prometheus at https://...``."""
    rules: tuple[Rule, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def api_rule(
    *,
    group: str,
    file: str,
    index: int,
    position: int,
    alert: str,
    expr: str,
    for_seconds: float,
    labels: Mapping[str, str],
) -> Rule:
    """A rule as Prometheus' API lists it: no lines to point at, so none are claimed."""
    for_ = timedelta(seconds=round(for_seconds))
    return Rule(
        group=group,
        index=index,
        path=f"{file or 'rules'}: group {group}, rule {position}",
        alert=alert,
        expr=expr,
        for_=for_,
        for_text=format_duration(for_) if for_ else None,
        labels=dict(labels),
        key_column=0,
        for_line=None,
        for_span=None,
        expr_span=(0, 0, 0, 0),
        insert_at=0,
        flow=False,
        written=False,
    )


@dataclass(frozen=True, slots=True)
class Edit:
    """A change to one rule: a new ``for`` and/or a new threshold."""

    rule: Rule
    for_: timedelta | None = None
    threshold: str | None = None


def read_rule_file(path: Path) -> RuleFile:
    """The alerting rules of a Prometheus rule file; ``BadInput`` naming the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None
    return parse_rule_file(path, text)


def parse_rule_file(path: Path, text: str) -> RuleFile:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{path}: bad YAML{where}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise BadInput(f"{path}: field 'groups': a rule file is a mapping with 'groups'")
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise BadInput(f"{path}: field 'groups': expected a list of rule groups")
    group_nodes = _child(root, "groups")
    rules: list[Rule] = []
    for g, group in enumerate(groups):
        where = f"groups[{g}]"
        if not isinstance(group, dict):
            raise BadInput(f"{path}: field '{where}': expected a mapping")
        if not isinstance(group.get("name"), str) or not group["name"]:
            raise BadInput(f"{path}: field '{where}.name': a group needs a name")
        items = group.get("rules", [])
        if not isinstance(items, list):
            raise BadInput(f"{path}: field '{where}.rules': expected a list")
        assert isinstance(group_nodes, yaml.SequenceNode)
        group_node = group_nodes.value[g]
        rule_nodes = _child(group_node, "rules")
        for r, item in enumerate(items):
            at = f"{where}.rules[{r}]"
            if not isinstance(item, dict):
                raise BadInput(f"{path}: field '{at}': expected a mapping")
            if "record" in item:
                continue
            assert isinstance(rule_nodes, yaml.SequenceNode)
            rules.append(_rule(path, at, str(group["name"]), len(rules), item, rule_nodes.value[r]))
    return RuleFile(path=path, text=text, rules=tuple(rules))


def _rule(path: Path, at: str, group: str, index: int, item: dict[str, Any], node: Any) -> Rule:
    alert, expr = item.get("alert"), item.get("expr")
    if not isinstance(alert, str) or not alert:
        raise BadInput(f"{path}: field '{at}.alert': a rule needs 'alert' or 'record'")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = str(expr)
    if not isinstance(expr, str) or not expr.strip():
        raise BadInput(f"{path}: field '{at}.expr': expected a PromQL expression")
    for_text = item.get("for")
    for_ = timedelta(0)
    if for_text is not None:
        try:
            for_ = parse_duration(str(for_text))
        except ValueError:
            raise BadInput(
                f"{path}: field '{at}.for': {for_text!r} is not a Prometheus duration"
            ) from None
    labels = item.get("labels") or {}
    if not isinstance(labels, dict):
        raise BadInput(f"{path}: field '{at}.labels': expected a mapping")
    assert isinstance(node, yaml.MappingNode)
    keys = [k.value for k, _ in node.value]
    expr_key = keys.index("expr")
    expr_value = node.value[expr_key][1]
    for_pair = next(((k, v) for k, v in node.value if k.value == "for"), None)
    following = node.value[expr_key + 1][0] if expr_key + 1 < len(node.value) else None
    end = node.end_mark
    insert_at = (
        following.start_mark.line
        if following is not None
        else (end.line if end.column == 0 else end.line + 1)
    )
    start, stop = expr_value.start_mark, expr_value.end_mark
    return Rule(
        group=group,
        index=index,
        path=at,
        alert=alert,
        expr=expr,
        for_=for_,
        for_text=None if for_text is None else str(for_text),
        labels={str(k): str(v) for k, v in labels.items()},
        key_column=node.value[0][0].start_mark.column,
        for_line=None if for_pair is None else for_pair[1].start_mark.line,
        for_span=None
        if for_pair is None or for_pair[1].start_mark.line != for_pair[1].end_mark.line
        else (for_pair[1].start_mark.column, for_pair[1].end_mark.column),
        expr_span=(start.line, start.column, stop.line, stop.column),
        insert_at=insert_at,
        flow=bool(node.flow_style),
    )


def _child(node: Any, key: str) -> Any:
    for k, v in node.value:
        if k.value == key:
            return v
    return None


def editable(rule: Rule) -> bool:
    """Whether ``apply_edits`` can change this rule line by line."""
    return rule.written and not rule.flow and (rule.for_line is None or rule.for_span is not None)


def apply_edits(rule_file: RuleFile, edits: Sequence[Edit]) -> str:
    """The file's text with each edit made on its own lines; everything else unchanged."""
    lines = rule_file.lines
    inserts: dict[int, list[str]] = {}
    for edit in edits:
        rule = edit.rule
        if not editable(rule):
            continue
        if edit.for_ is not None:
            new = format_duration(edit.for_)
            if rule.for_line is not None and rule.for_span is not None:
                line = lines[rule.for_line]
                start, stop = rule.for_span
                lines[rule.for_line] = line[:start] + new + line[stop:]
            else:
                newline = _newline(lines)
                inserts.setdefault(rule.insert_at, []).append(
                    " " * rule.key_column + f"for: {new}{newline}"
                )
        if edit.threshold is not None and (threshold := rule.threshold) is not None:
            # The number ends the expression: its last occurrence inside the value (never
            # in a comment after it) is the one to change.
            first, first_col, last, last_col = rule.expr_span
            for n in range(min(last, len(lines) - 1), first - 1, -1):
                begin = first_col if n == first else 0
                end = last_col if n == last else len(lines[n])
                at = lines[n].rfind(threshold.text, begin, end)
                if at >= 0:
                    lines[n] = lines[n][:at] + edit.threshold + lines[n][at + len(threshold.text) :]
                    break
    out: list[str] = []
    for n, line in enumerate(lines):
        out.extend(inserts.get(n, ()))
        out.append(line)
    if len(lines) in inserts:
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += _newline(lines)
        out.extend(inserts[len(lines)])
    return "".join(out)


def _newline(lines: Sequence[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def unified_diff(rule_file: RuleFile, proposed: str) -> str:
    """``diff -u`` of the file against the proposed text ('' when they are the same)."""
    name = str(rule_file.path)
    out = []
    for line in difflib.unified_diff(
        rule_file.text.splitlines(keepends=True),
        proposed.splitlines(keepends=True),
        fromfile=name,
        tofile=name,
    ):
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"  # as diff(1) marks it
        out.append(line)
    return "".join(out)
