"""Errors of the orchestrator. Each names a stable code, an HTTP status and a CLI exit code.

Exit codes 10-15 are the orchestrator's own: no template error (1-8) shares them.
"""

from __future__ import annotations

from ..core.errors import DomainError


class StackInvalid(DomainError):
    """The stack file is missing, not YAML, or breaks the schema; nothing was started."""

    code = "stack_invalid"
    title = "Invalid stack file"
    http_status = 422
    exit_code = 10
    hint = "Fix the stack file at the line and field named, then run `plan` to check it."


class ApplyFailed(DomainError):
    """A phase of apply failed; what this run started was stopped again."""

    code = "apply_failed"
    title = "Apply failed"
    http_status = 502
    exit_code = 11
    hint = "Read the failed server's log lines in the problem (or `logs <server>`), fix it, then apply again."


class ServerNotInStack(DomainError):
    code = "server_not_in_stack"
    title = "No such server in the stack"
    http_status = 404
    exit_code = 12
    hint = "Call `status` to see the stack's server names."


class StackBusy(DomainError):
    """Another apply, down or reset holds the stack's lock."""

    code = "stack_busy"
    title = "Stack busy"
    http_status = 409
    exit_code = 13
    hint = "Wait for the running apply, down or reset to finish, then retry."
    retryable = True


class NotApplied(DomainError):
    """The operation needs what apply creates (environments, ports), and apply has not run."""

    code = "not_applied"
    title = "Stack not applied"
    http_status = 409
    exit_code = 14
    hint = "Run `apply` first."


class ExportUnsupported(DomainError):
    """The stack uses something the chosen export format does not carry."""

    code = "export_unsupported"
    title = "Not supported by this export format"
    http_status = 422
    exit_code = 15
    hint = "Choose another export format, or remove from the stack what the message names."
