"""Narrow, lazy access to OpenDP's core.

`import opendp.prelude` also imports scikit-learn and costs ~1.7 s; the core modules we use
load in ~0.3 s. Only the "contrib" feature is enabled: never "honest-but-curious" or
"floating-point" in the trusted environment.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import NamedTuple


class OpenDP(NamedTuple):
    measurements: ModuleType
    transformations: ModuleType
    domains: ModuleType
    metrics: ModuleType
    measures: ModuleType
    accuracy: ModuleType


@cache
def opendp() -> OpenDP:
    import opendp.accuracy as accuracy
    import opendp.domains as domains
    import opendp.measurements as measurements
    import opendp.measures as measures
    import opendp.metrics as metrics
    import opendp.transformations as transformations
    from opendp.mod import enable_features

    enable_features("contrib")
    return OpenDP(measurements, transformations, domains, metrics, measures, accuracy)
