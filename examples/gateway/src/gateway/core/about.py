"""What this server calls itself on every interface."""

NAME = "gateway"
VERSION = "0.1.0"
DESCRIPTION = "Gateway: one MCP endpoint with the tools of every healthy server in the registry, followed live."  # noqa: E501
