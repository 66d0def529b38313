"""Structured JSON logs (structlog) for every process, one object per line.

Log calls use short keys (``trace_id``, ``actor``, ``route``, ...); the line
written is in Elastic Common Schema field names (``runtime/observability/ecs.py``):
``@timestamp``, ``log.level``, ``log.logger``, ``message``, ``service.name`` and,
inside an API request, ``trace.id``, ``http.request.id`` and ``user.id``; every
other key a call passed goes under ``bank`` (e.g. the projection worker's
``bank.trace_ids``).
Standard-library loggers (uvicorn, litestar, aiokafka, our own
``logging.getLogger`` calls) go through the same processors and renderer.

``redact`` runs last before rendering, on every line: values under a sensitive
key (password, token, secret, authorization, cookie, ...) are replaced, and
JWTs, ``Bearer``/``Basic`` credentials and ``password=...``-style pairs are
cut out of any other string (messages, exception text). Nothing logs those on
purpose; this is the net under mistakes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec
import structlog

from runtime.observability.context import REQUEST_ID, TRACE_ID, current_actor
from runtime.observability.ecs import to_ecs

REDACTED = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|authori[sz]ation|cookie|api[-_]?key|credential"
    r"|private[-_]?key|signing[-_]?key|otp|pin$",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)
_SCHEME_HINT = re.compile(r"earer|asic|EARER|ASIC")
_PAIR = re.compile(
    r"""(?ix)
    (["']?\b(?:password|passwd|pwd|new_password|old_password|token|access_token|refresh_token
            |id_token|client_secret|secret|api_key|authorization)\b["']?)
    (\s*[:=]\s*["']?)
    ([^\s"'&,;}]+)
    """
)
# Keys whose values we produce ourselves and never hold a secret: skip the scan.
_SAFE_KEYS = frozenset(
    {
        "event",
        "timestamp",
        "level",
        "logger",
        "process",
        "trace_id",
        "trace_ids",
        "request_id",
        "actor",
        "route",
        "method",
        "status",
        "duration_ms",
        "events",
        "batch_size",
    }
)


def scrub(text: str) -> str:
    """``text`` with JWTs, authorization credentials and secret=value pairs cut out.
    (Substring checks first: most log text has none of the markers.)"""
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if " " in text and _SCHEME_HINT.search(text):
        text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "=" in text or ":" in text:
        text = _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


def _scrub_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _SENSITIVE_KEY.search(k)
            else _scrub_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if key in _SAFE_KEYS:
            if key == "event" and isinstance(value, str):
                event_dict[key] = scrub(value)
            continue
        if _SENSITIVE_KEY.search(key):
            event_dict[key] = REDACTED
        elif value is not None and not isinstance(value, (int, float, bool)):
            event_dict[key] = _scrub_value(value)
    return event_dict


def add_request_context(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    trace_id = TRACE_ID.get()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
        request_id = REQUEST_ID.get()
        if request_id is not None:
            event_dict.setdefault("request_id", request_id)
        actor = current_actor()
        if actor is not None:
            event_dict.setdefault("actor", actor)
    return event_dict


_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text


def now_iso() -> str:
    """Every line's ``@timestamp``: UTC, ISO 8601 with microseconds (always six
    digits), ``Z``. The date and time of day are formatted once a second (the pair
    is replaced whole, so a thread never sees one second's number with another's text)."""
    global _second
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    second = _second
    if second[0] != seconds:
        second = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{second[1]}.{nanos // 1000:06d}Z"


def add_timestamp(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict["timestamp"] = now_iso()
    return event_dict


_encoder = msgspec.json.Encoder(enc_hook=str)


def render_json(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> str:
    try:
        return _encoder.encode(event_dict).decode()
    except (TypeError, msgspec.EncodeError):
        return json.dumps(dict(event_dict), default=str)


@dataclass(frozen=True, slots=True)
class Sink:
    """Where ``configure_logging`` sends the lines, for a writer that builds its own
    (``runtime.observability.access_log``)."""

    stream: TextIO
    process: str
    level_no: int


_sink: Sink | None = None


def sink() -> Sink | None:
    """The configured output; None before ``configure_logging``."""
    return _sink


class _JsonHandler(logging.StreamHandler[TextIO]):
    """The root handler ``configure`` installs; a later call finds and replaces it
    by its ``_bank_json`` mark."""

    _bank_json = True


def configure_logging(process: str, *, level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines on ``stream`` (stderr by default) for structlog and stdlib loggers alike."""
    global _sink
    out = stream or sys.stderr
    level_no = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(level_no, int):
        level_no = logging.INFO

    def add_process(
        _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("process", process)
        return event_dict

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            add_timestamp,
            add_process,
            add_request_context,
            structlog.processors.format_exc_info,
            redact,
            to_ecs,
            render_json,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            add_timestamp,
            add_process,
            add_request_context,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            to_ecs,
            render_json,
        ],
    )
    handler = _JsonHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, basicConfig's, Litestar's queue handler; not, e.g.,
        # pytest's capture handlers.
        if (
            getattr(old, "_bank_json", False)
            or type(old) is logging.StreamHandler
            or type(old).__name__ in ("QueueListenerHandler", "QueueHandler")
        ):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)
    # Servers and frameworks that install their own handlers: route them through ours.
    for name in ("uvicorn", "uvicorn.error", "litestar", "granian"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # Our access log (server/observability/http.py) replaces uvicorn's. With no handler
    # anywhere up its chain, uvicorn does not even format the line's arguments (it
    # checks ``hasHandlers()`` once per connection, then logs at INFO on each response).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    _sink = Sink(out, process, level_no)
    for named in _named.values():
        named._reset()


class _Named:
    """A structlog logger whose lines carry ``logger=<name>``, bound on first use (so
    after ``configure_logging``; reconfiguring rebinds it). The bound level methods
    are kept as attributes: a call is then a plain attribute lookup."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        if method.startswith("__"):
            raise AttributeError(method)
        bound = getattr(structlog.get_logger().bind(logger=self._name), method)
        setattr(self, method, bound)
        return bound

    def _reset(self) -> None:
        name = self._name
        self.__dict__.clear()
        self._name = name


_named: dict[str, _Named] = {}


def get_logger(name: str) -> Any:
    """The structlog logger named ``name`` (one instance per name)."""
    log = _named.get(name)
    if log is None:
        log = _named[name] = _Named(name)
    return log
