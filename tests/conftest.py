"""Test-wide settings.

Hypothesis runs derandomized by default, so CI sees the same examples on every run and a
landing never depends on luck; set ``HYPOTHESIS_PROFILE=explore`` to search with fresh random
examples locally (that is how the bisection bug pinned in test_placer.py was found).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
