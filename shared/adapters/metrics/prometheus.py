"""Metrics from a live Prometheus through its HTTP API (``/api/v1/query_range``).

The production ``MetricsSource``. It runs inside Durable activities, so it is
synchronous and stdlib-only: one POST per query (a form body, so long
``service=~"a|b|..."`` alternations never hit URL-length limits) over a
kept-alive ``http.client`` connection. Every way a query can fail (refused
connection, time-out, HTTP error, ``status: error``, a body that is not the
documented JSON) comes back as ``QueryResult(error=...)``: context assembly
carries on without the signal and says why. Prometheus' ``warnings`` (a
partial answer, for example from a remote-read backend) go to
``QueryResult.warnings``.

It also lists the server's alerting rules (``GET /api/v1/rules?type=alert``,
the ``RuleListing`` capability), so noise advice needs no rule file.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.feedback.prometheus_rules import LiveRules, Rule, api_rule
from shared.ports.metrics import QueryResult, Series

_RETRYABLE_ON_REUSE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
"""Failures of a kept-alive connection the server closed while idle: retry once, fresh."""

_MAX_ERROR_BODY = 200


class HttpSession:
    """Kept-alive connections to one Prometheus, safe to share between threads.

    Idle connections wait in a small pool; a request takes one (or opens one),
    and puts it back only after reading the whole response of a keep-alive
    exchange. ``ssl_context`` and ``headers`` (``Authorization`` for a
    Prometheus behind a proxy) apply to every request.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        max_idle: int = 4,
    ) -> None:
        self._ssl_context = ssl_context
        self._headers = dict(headers or {})
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def post_form(self, url: str, form: Mapping[str, str], *, timeout: float) -> tuple[int, bytes]:
        """POST ``form`` url-encoded; returns the status and the body.

        ``timeout`` bounds the connect and every read. Raises ``OSError``
        (``TimeoutError``, ``ConnectionRefusedError`` ...) and
        ``http.client.HTTPException`` for the caller to turn into a value.
        """
        body = urllib.parse.urlencode(form).encode("ascii")
        content = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._send("POST", url, body, content, timeout)

    def get(self, url: str, *, timeout: float) -> tuple[int, bytes]:
        """GET ``url`` (``/api/v1/rules`` takes no POST); otherwise as ``post_form``."""
        return self._send("GET", url, None, {}, timeout)

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        extra: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {**self._headers, **extra, "Accept": "application/json"}
        conn, reused = self._take(key, timeout)
        try:
            try:
                response = self._exchange(conn, method, target, body, headers)
            except _RETRYABLE_ON_REUSE:
                if not reused:
                    raise
                conn.close()
                conn = self._open(key, timeout)
                response = self._exchange(conn, method, target, body, headers)
            status, payload, keep = response
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give_back(key, conn)
        else:
            conn.close()
        return status, payload

    def close(self) -> None:
        """Close every idle connection (in-flight ones close when they finish)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    @staticmethod
    def _exchange(
        conn: http.client.HTTPConnection,
        method: str,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes, bool]:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, payload, not response.will_close

    def _take(
        self, key: tuple[str, str, int], timeout: float
    ) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            pool = self._idle.get(key)
            conn = pool.pop() if pool else None
        if conn is None:
            return self._open(key, timeout), False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _open(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _give_back(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if len(pool) < self._max_idle:
                pool.append(conn)
                return
        conn.close()


class PrometheusSource:
    """``MetricsSource`` over one Prometheus (or anything serving its HTTP API).

    ``base_url`` is the server root, with any path prefix a proxy adds
    (``https://prom.example/tenant-a``). ``timeout_seconds`` bounds each query:
    the socket waits (connect, each read) and, passed as the ``timeout``
    parameter, Prometheus' own evaluation. Pass ``session`` to share
    connections, TLS settings or auth headers between sources.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        session: HttpSession | None = None,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._base = base_url.rstrip("/")
        self._url = self._base + "/api/v1/query_range"
        self._rules_url = self._base + "/api/v1/rules?type=alert"
        self._timeout = timeout_seconds
        self._owns_session = session is None
        self._session = session if session is not None else HttpSession()

    def close(self) -> None:
        """Close the connections of a session this source made (a shared one stays open)."""
        if self._owns_session:
            self._session.close()

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        """Evaluate ``selector`` like ``/api/v1/query_range``; failures are values."""
        step_s = step.total_seconds()
        if step_s <= 0:
            return QueryResult(error="bad_data: step must be positive")
        form = {
            "query": selector,
            "start": _seconds(start),
            "end": _seconds(end),
            "step": _seconds_text(step_s),
            "timeout": _seconds_text(self._timeout),  # Prometheus reads plain float seconds
        }
        where = f"Prometheus at {self._url}"
        try:
            status, body = self._session.post_form(self._url, form, timeout=self._timeout)
        except TimeoutError:
            return QueryResult(error=f"timeout: {where} did not answer within {self._timeout:g}s")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return QueryResult(error=f"unavailable: {where}: {_describe(exc)}")
        return _parse(status, body, where)

    def alerting_rules(self) -> LiveRules:
        """The alerting rules this Prometheus evaluates (``GET /api/v1/rules?type=alert``).

        Each becomes the ``Rule`` a rule file gives (``name``, ``query`` as
        ``expr``, ``duration`` seconds as ``for``, ``labels``), marked as not
        written in a file. Failures are values, like ``query_range``'s.
        """
        where = f"Prometheus at {self._base}"
        try:
            status, body = self._session.get(self._rules_url, timeout=self._timeout)
        except TimeoutError:
            late = f"timeout: {where} did not answer within {self._timeout:g}s"
            return LiveRules(where, error=late)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return LiveRules(where, error=f"unavailable: {where}: {_describe(exc)}")
        doc, error = _envelope(status, body, where)
        if error is not None:
            return LiveRules(where, error=error)
        try:
            rules = _rules(doc["data"])
        except (KeyError, TypeError, ValueError) as exc:
            return LiveRules(where, error=f"bad_response: {where}: not a rules result ({exc})")
        return LiveRules(where, rules)


def _rules(data: Any) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for group in data["groups"]:
        for position, item in enumerate(group["rules"]):
            if item.get("type", "alerting") != "alerting":  # a server that ignored ?type=alert
                continue
            labels = item.get("labels") or {}
            out.append(
                api_rule(
                    group=str(group["name"]),
                    file=str(group.get("file", "")),
                    index=len(out),
                    position=position,
                    alert=str(item["name"]),
                    expr=str(item["query"]),
                    for_seconds=float(item.get("duration") or 0),
                    labels={str(k): str(v) for k, v in labels.items()},
                )
            )
    return tuple(out)


def _seconds(moment: datetime) -> str:
    return _seconds_text(moment.timestamp())


def _seconds_text(value: float) -> str:
    """Unix seconds to millisecond precision, Prometheus' own resolution."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _envelope(status: int, body: bytes, where: str) -> tuple[dict[str, Any], str | None]:
    """The documented response envelope: the document, or why it is not a success."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        snippet = body[:_MAX_ERROR_BODY].decode("utf-8", errors="replace").strip()
        if status >= 400:
            return {}, f"http_{status}: {where}: {snippet}"
        return {}, f"bad_response: {where} sent a body that is not JSON"
    if not isinstance(doc, dict):
        return {}, f"bad_response: {where} sent JSON that is not an object"
    if doc.get("status") == "error":
        kind = doc.get("errorType") or f"http_{status}"
        return doc, f"{kind}: {doc.get('error', '')}"
    if status >= 400 or doc.get("status") != "success":
        return doc, f"http_{status}: {where}: unexpected answer"
    return doc, None


def _parse(status: int, body: bytes, where: str) -> QueryResult:
    """The documented response envelope to a value; anything else is an error."""
    doc, error = _envelope(status, body, where)
    warnings = _strings(doc.get("warnings"))
    if error is not None:
        return QueryResult(error=error, warnings=warnings)
    try:
        series = _matrix(doc["data"])
    except (KeyError, TypeError, ValueError) as exc:
        return QueryResult(
            error=f"bad_response: {where}: not a matrix result ({exc})", warnings=warnings
        )
    return QueryResult(series=series, warnings=warnings)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value)


def _matrix(data: Any) -> tuple[Series, ...]:
    if data["resultType"] != "matrix":
        raise ValueError(f"resultType {data['resultType']!r}")
    out: list[Series] = []
    for item in data["result"]:
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        # values are strings ("1.5", "NaN", "+Inf"): float() reads them all
        samples = tuple((float(t), float(v)) for t, v in item.get("values", ()))
        out.append(Series(labels=labels, samples=samples))
    return tuple(out)
