"""HTTP-trigger route templates, matched the way the Functions host matches them.

Templates are ASP.NET-style: literal segments (case-insensitive), ``{name}``,
optional ``{name?}``, defaults ``{name=value}``, catch-all ``{*rest}``, and
constraints such as ``{id:int}``, ``{slug:alpha}``, ``{n:min(1)}`` or
``{code:regex(^[a-z]{{3}}$)}``. When several templates match, the most specific
wins: literal segments beat parameters, constrained parameters beat free ones.
A path that matches only templates of other methods is a 405, not a 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

_PARAM = re.compile(r"\{((?:\{\{|\}\}|[^{}])*)\}")
_SIMPLE_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "bool": r"(?:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "datetime": r"[^/]+",
}
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)

Check = Callable[[str], bool]


class RouteError(ValueError):
    """A route template the host cannot serve."""


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """One compiled template: its pattern, parameter names and precedence."""

    template: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    defaults: tuple[tuple[str, str], ...]
    checks: tuple[tuple[str, Check], ...]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a raw (still percent-encoded) path relative to the prefix."""
        found = self.pattern.match(path.strip("/"))
        if found is None:
            return None
        values = dict(self.defaults)
        for index, name in enumerate(self.params):
            raw = found.group(f"p{index}")
            if raw is not None:
                values[name] = unquote(raw)
        for name, check in self.checks:
            if name in values and not check(values[name]):
                return None
        return values


def compile_route(template: str) -> RouteTemplate:
    """Compile an ASP.NET-style route template; raises RouteError when malformed."""
    segments = template.strip("/").split("/") if template.strip("/") else []
    body: list[str] = []
    params: list[str] = []
    defaults: list[tuple[str, str]] = []
    checks: list[tuple[str, Check]] = []
    precedence: list[int] = []
    for position, segment in enumerate(segments):
        if not segment:
            raise RouteError(f"route {template!r} has an empty segment")
        separator = "/" if position else ""
        whole = _PARAM.fullmatch(segment)
        if whole:
            spec = _parse_param(whole.group(1), template)
            index = len(params)
            params.append(spec.name)
            if spec.default is not None:
                defaults.append((spec.name, spec.default))
            checks.extend((spec.name, check) for check in spec.checks)
            group = f"(?P<p{index}>{spec.pattern})"
            if spec.catch_all:
                if position != len(segments) - 1:
                    raise RouteError(f"route {template!r}: a catch-all must be the last segment")
                body.append(f"(?:{separator}{group})?")
                precedence.append(4)
            elif spec.optional or spec.default is not None:
                body.append(f"(?:{separator}{group})?")
                precedence.append(3)
            else:
                body.append(separator + group)
                precedence.append(1 if spec.constrained else 2)
            continue
        pieces: list[str] = []
        last = 0
        has_param = False
        for found in _PARAM.finditer(segment):
            pieces.append(re.escape(_unescape_braces(segment[last : found.start()])))
            spec = _parse_param(found.group(1), template)
            if spec.optional or spec.catch_all:
                raise RouteError(f"route {template!r}: {segment!r} mixes text with optional parts")
            index = len(params)
            params.append(spec.name)
            checks.extend((spec.name, check) for check in spec.checks)
            # Greedy groups match the way ASP.NET does: literals from the right.
            pieces.append(f"(?P<p{index}>{spec.pattern})")
            last = found.end()
            has_param = True
        pieces.append(re.escape(_unescape_braces(segment[last:])))
        body.append(separator + "".join(pieces))
        precedence.append(1 if has_param else 0)
    if len(set(params)) != len(params):
        raise RouteError(f"route {template!r} repeats a parameter")
    pattern = re.compile("^" + "".join(body) + "$", re.IGNORECASE)
    return RouteTemplate(
        template=template,
        pattern=pattern,
        params=tuple(params),
        defaults=tuple(defaults),
        checks=tuple(checks),
        precedence=tuple(precedence),
    )


@dataclass(frozen=True, slots=True)
class _ParamSpec:
    name: str
    pattern: str
    optional: bool
    catch_all: bool
    default: str | None
    constrained: bool
    checks: tuple[Check, ...]


def _parse_param(text: str, template: str) -> _ParamSpec:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    name_part, _, constraint_part = text.partition(":")
    default: str | None = None
    optional = False
    if "=" in name_part:
        name_part, _, default = name_part.partition("=")
    if constraint_part.endswith("?"):
        constraint_part, optional = constraint_part[:-1], True
    if "=" in constraint_part and not constraint_part.startswith("regex("):
        constraint_part, _, default = constraint_part.partition("=")
    if name_part.endswith("?"):
        name_part, optional = name_part[:-1], True
    name = name_part.strip()
    if not re.fullmatch(r"\w+", name):
        raise RouteError(f"route {template!r}: bad parameter name {name!r}")
    pattern = ".*" if catch_all else "[^/]+"
    checks: list[Check] = []
    constraints = _split_constraints(constraint_part) if constraint_part else []
    for constraint in constraints:
        pattern, check = _constraint(constraint, pattern, template)
        if check is not None:
            checks.append(check)
    return _ParamSpec(
        name=name,
        pattern=pattern,
        optional=optional,
        catch_all=catch_all,
        default=default,
        constrained=bool(constraints),
        checks=tuple(checks),
    )


def _split_constraints(text: str) -> list[str]:
    """Split ``int:min(1)`` on colons that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p]


def _constraint(text: str, pattern: str, template: str) -> tuple[str, Check | None]:
    lowered = text.lower()
    if lowered in _SIMPLE_CONSTRAINTS:
        return _SIMPLE_CONSTRAINTS[lowered], None
    call = _CALL.match(text)
    if call is None:
        raise RouteError(f"route {template!r}: unknown constraint {text!r}")
    kind, argument = call.group(1).lower(), call.group(2)
    if kind == "regex":
        expression = re.compile(_unescape_braces(argument), re.IGNORECASE)
        return pattern, lambda value: expression.search(value) is not None
    try:
        numbers = [int(a) for a in argument.split(",")]
    except ValueError as exc:
        raise RouteError(f"route {template!r}: bad constraint {text!r}") from exc
    if kind == "min" and len(numbers) == 1:
        return r"-?\d+", lambda value: int(value) >= numbers[0]
    if kind == "max" and len(numbers) == 1:
        return r"-?\d+", lambda value: int(value) <= numbers[0]
    if kind == "range" and len(numbers) == 2:
        return r"-?\d+", lambda value: numbers[0] <= int(value) <= numbers[1]
    if kind == "minlength" and len(numbers) == 1:
        return pattern, lambda value: len(value) >= numbers[0]
    if kind == "maxlength" and len(numbers) == 1:
        return pattern, lambda value: len(value) <= numbers[0]
    if kind == "length" and len(numbers) in (1, 2):
        low, high = numbers[0], numbers[-1]
        return pattern, lambda value: low <= len(value) <= high
    raise RouteError(f"route {template!r}: unknown constraint {text!r}")


def _unescape_braces(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


@dataclass(frozen=True, slots=True)
class RouteMatch[T]:
    """The target a request goes to, with its route values."""

    target: T
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    """The path exists, but not for this method."""

    allowed: tuple[str, ...]


@dataclass(slots=True)
class RouteTable[T]:
    """Templates with their methods, tried most specific first."""

    _routes: list[tuple[RouteTemplate, frozenset[str] | None, T]] = field(default_factory=list)

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> None:
        allowed = None if methods is None else frozenset(m.upper() for m in methods)
        self._routes.append((compile_route(template), allowed, target))
        self._routes.sort(key=lambda route: route[0].precedence)

    def resolve(self, method: str, path: str) -> RouteMatch[T] | MethodNotAllowed | None:
        """The match for this method, a 405 answer, or None when no template fits."""
        method = method.upper()
        others: set[str] = set()
        for template, allowed, target in self._routes:
            params = template.match(path)
            if params is None:
                continue
            if allowed is None or method in allowed:
                return RouteMatch(target, params)
            others |= allowed
        if others:
            return MethodNotAllowed(tuple(sorted(others)))
        return None
