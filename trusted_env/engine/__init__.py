"""The engine: the only package that opens datasets and reads patient-level rows.

`run_checked_plan` is what the trusted runner calls, with a plan it has checked before charging
the ledger; `run_plan` checks and runs in one call; `run_on_dummy` additionally returns exact
values and is for researchers' dummy data only.
"""

from trusted_env.engine.connection import SandboxLimits
from trusted_env.engine.executor import run_checked_plan, run_plan
from trusted_env.engine.local import run_on_dummy

__all__ = ["SandboxLimits", "run_checked_plan", "run_on_dummy", "run_plan"]
