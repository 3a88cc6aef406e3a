"""The orchestrator's domain: a stack of capability servers, brought up phase by phase."""
