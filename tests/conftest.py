"""Hypothesis profiles for sepcpp's property-based tests (tests/python/test_properties.py).

They are registered here, in a conftest that pytest imports before it configures its plugins,
because hypothesis's pytest plugin loads ``--hypothesis-profile=NAME`` at configure time: a
profile registered in a test module would not exist yet ("Profile 'long' is not registered").

- ``ci`` (the default): fixed seed (derandomize), a few hundred examples per op in total, no
  deadline (a loaded CI machine must not turn into a flaky failure), failing examples printed as
  reproducible blobs, no example database written into the checkout.
- ``long``: random seeds and many more examples, for developers:
  ``pytest tests/python/test_properties.py --hypothesis-profile=long``.

``SEPCPP_HYPOTHESIS_PROFILE=long`` selects a profile without the command-line option.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis missing: test_properties.py skips itself
    settings = None

if settings is not None:
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile(
        "ci", derandomize=True, deadline=None, print_blob=True, database=None,
        suppress_health_check=_quiet)
    settings.register_profile(
        "long", derandomize=False, deadline=None, print_blob=True, suppress_health_check=_quiet)
    settings.load_profile(os.environ.get("SEPCPP_HYPOTHESIS_PROFILE", "ci"))
