"""Settings shared by every test."""

from hypothesis import settings

# Wall-clock deadlines make property tests flaky on a loaded 2-core machine running three
# brokers; the pytest-timeout limit still bounds a runaway test.
settings.register_profile("harness", deadline=None, print_blob=True)
settings.load_profile("harness")
