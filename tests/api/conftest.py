from tests.reporting.conftest import world  # noqa: F401 (the hand-made data, shared)
