import pytest


@pytest.fixture(autouse=True)
def _close_async_chat_connections():
    """Socket tests post chat lines over pooled async connections: close them with the test."""
    yield
    from helpdesk import async_db

    async_db.close_all()
