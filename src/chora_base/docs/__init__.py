"""Docs-site tooling: generate the snippets the SAP site includes (``python -m chora_base.docs.generate``)."""
