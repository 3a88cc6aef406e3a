"""Problems around a CLI command — settings, URLs, the data folder, the store, crashes — each
turned into one line the user can act on, with an exit code of its own (see core/errors.py).

Loaded only when a command needs it; nothing here runs on `--help`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import (
    AddressInUse,
    DomainError,
    InternalError,
    InvalidSettings,
    StoreUnavailable,
    ValidationFailed,
)

_TYPES = {int: "an integer", float: "a number", bool: "true or false", str: "text", Path: "a folder path"}


def _expected(field: Any) -> str:
    """What a valid value of a settings field looks like, in words."""
    from .cli_params import describe

    param = describe("x", field)
    if param.choices:
        return "one of " + ", ".join(str(c) for c in param.choices)
    if param.repeatable:
        return "a comma-separated list"
    core = field.annotation
    words = next((text for kind, text in _TYPES.items() if kind in (core, *getattr(core, "__args__", ()))), "a value")
    return f"{words} ({param.bounds})" if param.bounds else words


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def settings_problem(
    model: type[Any], errors: list[dict[str, Any]], options: dict[str, str] | None = None
) -> InvalidSettings:
    """One InvalidSettings naming each bad variable (or option), its value and what would work.

    `errors` are pydantic error dicts of `model` (an EnvSettings subclass); `options` maps a
    field set on the command line to its option name (`port` -> `--port`).
    """
    prefix = getattr(model, "env_prefix", "")
    parts = []
    for err in errors:
        if not err.get("loc"):  # a rule across several settings
            parts.append(f"Invalid settings ({prefix}*): {err.get('msg', 'bad combination')}")
            continue
        name = str(err["loc"][0])
        field = model.model_fields.get(name)
        source = (options or {}).get(name) or f"{prefix}{name.upper()}"
        value = err.get("input", os.environ.get(source))
        fix = f"use {_expected(field)}" if field is not None else "fix it"
        if field is not None and source.startswith(prefix) and not field.is_required():
            fix += " or unset it"
        parts.append(f"{source}={_shown(value)} is invalid ({err.get('msg', 'bad value')}); {fix}")
    return InvalidSettings("; ".join(parts) or f"Invalid settings ({prefix}*)")


def from_validation_error(exc: Exception, options: dict[str, str] | None = None) -> InvalidSettings | None:
    """A pydantic ValidationError raised while building an EnvSettings subclass, as one line.

    Domain code may read its own settings class (say `RegistrySettings`) deep inside
    `Service.from_settings`; the class is found by the error's title so its prefix is named.
    """
    from ..core.settings import EnvSettings

    pending = [EnvSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == getattr(exc, "title", None):
            return settings_problem(cls, exc.errors(include_url=False), options)  # type: ignore[attr-defined]
        pending.extend(cls.__subclasses__())
    return None


#: URL settings that name something other than an HTTP server, and the schemes each accepts.
OTHER_SCHEMES: dict[str, tuple[str, ...]] = {
    "nats_url": ("nats", "tls", "ws", "wss"),
    "saga_database_url": ("postgresql", "postgres", "sqlite"),
}


def check_url(url: str, source: str, schemes: tuple[str, ...] = ("http", "https")) -> None:
    """Refuse a server URL that cannot work before anything is sent to it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises on a malformed one
        host_needed = parts.scheme != "sqlite"  # sqlite:///path names a file
        ok = (
            parts.scheme.split("+")[0] in schemes
            and (bool(parts.hostname) or not host_needed)
            and url.isprintable()
            and " " not in url
        )
    except ValueError:
        ok = False
    if not ok:
        if schemes == ("http", "https"):
            raise InvalidSettings(f"{source}={_shown(url)} is not an http(s) URL; use e.g. http://127.0.0.1:8000")
        raise InvalidSettings(f"{source}={_shown(url)} is not a URL of scheme {' or '.join(schemes)}")


def _data_dir_problem(data_dir: Path) -> str | None:
    """Why `data_dir` cannot hold a store, if the reason is the folder itself."""
    path = data_dir.absolute()
    try:
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
    except OSError as exc:  # e.g. a name longer than the filesystem allows
        return exc.strerror or str(exc)
    if existing is None:
        return None
    if not existing.is_dir():
        return f"{existing} is a file, not a folder" if existing == path else f"{existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def store_problem(exc: Exception, settings: Any, env_prefix: str) -> DomainError:
    """The error to report when opening the store raised `exc`.

    The folder's own faults (a file in its place, no permission, a name the filesystem refuses)
    are the user's settings to fix (exit 2); anything else is the store failing (exit 7).
    """
    if isinstance(exc, DomainError):
        return exc
    if (found := from_validation_error(exc)) is not None:
        return found
    data_dir = getattr(settings, "data_dir", None)
    if data_dir is not None:
        reason = _data_dir_problem(Path(data_dir))
        if reason is None and isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        if reason is not None:
            return InvalidSettings(
                f"{env_prefix}DATA_DIR={_shown(str(data_dir))} cannot hold the store: {reason}; "
                "point it at a writable folder"
            )
    detail = " ".join(str(exc).split()) or type(exc).__name__
    where = f" in {data_dir}" if data_dir is not None else ""
    return StoreUnavailable(f"Cannot open the store{where}: {detail}")


class CrashLog(logging.Handler):
    """Error records of one CLI run, kept out of the terminal and written to a file if any come.

    The CLI shows one line per problem; the traceback behind an unexpected error is here, and
    the line names this file. Warnings are shown as one line each, without a traceback.
    """

    def __init__(self, package: str) -> None:
        super().__init__(logging.WARNING)
        self.package = package
        self.path: Path | None = None

    def _open(self) -> Path:
        if self.path is None:
            import tempfile

            stamp = time.strftime("%Y%m%dT%H%M%S")
            fd, name = tempfile.mkstemp(prefix=f"{self.package}-{stamp}-", suffix=".log")
            os.close(fd)
            self.path = Path(name)
        return self.path

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR:  # a warning is news for the user, not a crash
            import sys

            print(f"warning: {' '.join(record.getMessage().split())}", file=sys.stderr)
            return
        try:
            with self._open().open("a", encoding="utf-8") as out:
                out.write(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record) + "\n")
        except OSError:
            self.path = None  # nowhere to write: the one-line message still goes out

    def write_exception(self, exc: BaseException) -> Path | None:
        record = logging.LogRecord(self.package, logging.ERROR, "", 0, "unexpected error", None, None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
        self.emit(record)
        return self.path

    def install(self) -> None:
        root = logging.getLogger()
        # With a handler on the root logger, Python's last-resort handler (which would print
        # tracebacks on stderr) is never used.
        if self not in root.handlers:
            root.addHandler(self)


def report(exc: BaseException, as_json: bool, package: str) -> int:
    """Show any failure of a run as one line (or a problem object) and return its exit code."""
    import typer

    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]
        return 2
    if isinstance(exc, DomainError):
        error = exc
    elif hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
        ctx = getattr(exc, "ctx", None)  # a usage error found by the parser
        see = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fix = f"Run '{ctx.command_path} --help' and call it with the options it lists." if ctx is not None else None
        error = ValidationFailed(_one_line(exc.format_message()) + see, hint=fix)  # type: ignore[attr-defined]
    elif type(exc).__name__ == "Abort":
        typer.echo("Aborted.", err=True)
        return 1
    else:
        path = crash_log(package).write_exception(exc)
        where = f"the traceback is in {path}" if path else "no log file could be written"
        error = InternalError(f"Unexpected {type(exc).__name__}: {_one_line(str(exc))[:200]}; {where}")
    logged = _CRASH_LOG.path if _CRASH_LOG else None
    if isinstance(error, InternalError) and logged and str(logged) not in error.detail:
        error.detail = f"{error.detail} The traceback is in {logged}"
    if as_json:
        typer.echo(json.dumps(error.to_problem(f"urn:{package}:error")))
    else:
        # Still one line: the hint (what to do instead) rides after the detail.
        typer.echo(f"error[{error.code}]: {_one_line(error.detail)} (hint: {_one_line(error.hint)})", err=True)
    return error.exit_code


def _one_line(text: str) -> str:
    return printable(" ".join(str(text).split()))


#: What a terminal acts on instead of showing: C0 and C1 controls (escape sequences, carriage
#: return, backspace) but newline and tab, and the bidirectional overrides that reorder a line.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to write to a terminal: data cannot retitle it, clear it or forge lines;
    each control character is shown escaped (``\\x1b``) instead."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


_CRASH_LOG: CrashLog | None = None


def crash_log(package: str) -> CrashLog:
    """The run's log file for tracebacks (created only when something is written to it)."""
    global _CRASH_LOG
    if _CRASH_LOG is None:
        _CRASH_LOG = CrashLog(package)
    _CRASH_LOG.install()
    return _CRASH_LOG


def is_loopback(host: str) -> bool:
    import ipaddress  # here and in bind(): only `serve` pays for them

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(settings: Any, host_source: str, port_source: str) -> Any:
    """The listening address, bound here so a taken or impossible one is one clear line."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidSettings(f"{host_source}={settings.host!r} is not a usable address ({reason})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"{settings.host}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(f"{where} is already in use by another program; choose another {port_source}") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InvalidSettings(f"Binding {where} is not permitted; use a port above 1023 ({port_source})") from None
        raise InvalidSettings(f"Cannot bind {where} ({exc.strerror}); check {host_source}") from None
    return sock


def load_settings(**options: Any) -> Any:
    """The settings of this run, or one InvalidSettings line naming each bad variable/option.

    `options` are values given on the command line; they win over the environment. URL
    settings are checked too, since a malformed one would only fail later, deep in a call.
    """
    from pydantic import ValidationError

    from ..core.settings import ENV_PREFIX, Settings, get_settings

    given = {name: value for name, value in options.items() if value is not None}
    flags = {name: "--" + name.replace("_", "-") for name in given}
    try:
        settings = get_settings()  # a bad variable is reported even when an option overrides it
    except ValidationFailed as exc:
        raise settings_problem(Settings, exc.errors or []) from None
    try:
        settings = Settings(**given) if given else settings
    except ValidationError as exc:
        raise settings_problem(Settings, exc.errors(include_url=False), flags) from None
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if (name == "url" or name.endswith("_url")) and isinstance(value, str):
            check_url(value, flags.get(name) or ENV_PREFIX + name.upper(), OTHER_SCHEMES.get(name, ("http", "https")))
    return settings
