"""Adapters that expose the operation table: CLI, REST, MCP and the remote Python client."""
