"""What this server calls itself on every interface."""

NAME = "orchestrator"
VERSION = "0.1.0"
DESCRIPTION = "Orchestrator: brings a stack of capability servers up phase by phase, keeps it running and takes it down without a trace."  # noqa: E501
