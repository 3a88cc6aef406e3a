"""Owner-side test settings for the registry (the template's tests/conftest.py is plumbing).

The template's interface tests compare what is stored before and after long runs of bad
calls (dozens of CLI processes), which outlast the default 15 s heartbeat TTL: the registry
would then, rightly, mark the examples' instances `unknown` mid-test. TTL behaviour itself is
tested in tests/test_domain.py with an explicit clock.
"""

import os

os.environ.setdefault("MANIFEST_TTL_SECONDS", "3600")
