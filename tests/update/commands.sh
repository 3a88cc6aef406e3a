# Run from the project root on a clean git work tree: commit your own work first.
# The example names the package notes_server; use your own package name.
# Update to the newest template release, keeping your recorded answers:
copier update --defaults
# Stop if anything is left unmerged (this lists nothing when the merge was clean):
test -z "$(git diff --name-only --diff-filter=U)"
# Stop if any file still holds conflict markers (this lists the files that do):
! grep -rlI --exclude-dir=.git --exclude-dir=.venv -e '^<<<<<<< ' -e '^>>>>>>> ' .
# Record the update on its own, so the tier upgrade below is a separate commit:
git add -A && git commit -q -m "Update from the chora-base template"
# Move up one tier (essential to recommended here; recommended to advanced the same way):
copier update --defaults --data tier=recommended
# Stop if anything is left unmerged:
test -z "$(git diff --name-only --diff-filter=U)"
# Stop if any file still holds conflict markers:
! grep -rlI --exclude-dir=.git --exclude-dir=.venv -e '^<<<<<<< ' -e '^>>>>>>> ' .
# Install the dependencies the new tier adds (or: .venv/bin/pip install -e '.[dev]'):
uv pip install -q -p .venv/bin/python -e '.[dev]'
# Regenerate the committed contract (openapi.json, docs/operations.md) from your operation table:
.venv/bin/python -m notes_server.interfaces.contract
# Run the project's tests:
.venv/bin/pytest -q
# Check compliance at the tier now recorded in .copier-answers.yml:
chora-base check .
# Record the upgrade:
git add -A && git commit -q -m "Move up to the recommended tier"
