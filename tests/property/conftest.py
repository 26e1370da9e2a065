"""Hypothesis profiles: bounded in `make test`, long in `make fuzz` (``--hypothesis-profile=fuzz``).

No example database is written (tests never leave files behind in the project).
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")
