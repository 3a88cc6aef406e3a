"""Structured (JSON) log lines on stderr, each carrying the current request ID and trace ID.

Both keys are on every line (null when there is no request, or tracing is off), so a log
search can join a line to its trace in whatever backend received the spans.

Logs go to stderr so that stdout stays clean for CLI output and the MCP stdio transport.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

from . import tracing

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.get(),
        }
        line["trace_id"], line["span_id"] = tracing.current_ids()
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "INFO") -> None:
    """Install the JSON handler once on the root logger."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
