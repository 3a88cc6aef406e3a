"""What this server calls itself on every interface."""

NAME = "manifest"
VERSION = "0.1.0"
DESCRIPTION = "Manifest registry: capability servers register, heartbeat, report health and find each other by name."  # noqa: E501
