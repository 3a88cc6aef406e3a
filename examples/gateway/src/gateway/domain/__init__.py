"""The gateway's domain: the federation of every healthy server's MCP tools behind one endpoint."""
