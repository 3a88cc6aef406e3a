"""chora-base compliance checker: which SAP tier a repository meets, check by check.

Built as a repo-review plugin (see :mod:`chora_base.checker.plugin`); the command line
lives in :mod:`chora_base.cli` and the run/tier logic in :mod:`chora_base.checker.runner`.
"""

from chora_base.checker.catalog import BASE_URL, SAPS, TIERS, CheckInfo, all_checks

__all__ = ["BASE_URL", "SAPS", "TIERS", "CheckInfo", "all_checks"]
