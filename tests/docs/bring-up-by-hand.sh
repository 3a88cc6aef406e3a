# The registry first. Registering is a write, and the registry refuses writes without its
# token, so make one and keep it in the environment for the servers.
export MANIFEST_API_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
registry_url="http://127.0.0.1:${REGISTRY_PORT:-8100}"
MANIFEST_PORT="${REGISTRY_PORT:-8100}" manifest serve &
registry_pid=$!
until curl -fsS "$registry_url/ready" >/dev/null 2>&1; do sleep 0.2; done

# Then each server, with the registry's address and token (without the token it runs, but
# never registers), in dependency order, each one `up` before the next starts.
NOTES_SERVER_PORT="${SERVER_PORT:-8000}" \
NOTES_SERVER_REGISTRY_URL="$registry_url" \
NOTES_SERVER_REGISTRY_TOKEN="$MANIFEST_API_TOKEN" \
  notes-server serve &
server_pid=$!
until curl -fsS "$registry_url/v1/services/notes-server" | grep -q '"status": *"up"'; do sleep 0.2; done
echo "notes-server is up in the registry"

# Stop in reverse order with SIGTERM: a server deregisters on a clean shutdown.
kill -TERM "$server_pid"; wait "$server_pid"
curl -fsS "$registry_url/v1/services/notes-server" | grep -q '"status": *"up"' || echo "notes-server has left the registry"
kill -TERM "$registry_pid"; wait "$registry_pid"
