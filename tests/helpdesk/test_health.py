import json
import urllib.error
import urllib.request

import pytest


def fetch_health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/health/?format=json", timeout=15) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.worker
def test_health_is_green_with_database_channel_layer_and_worker(daphne_server, celery_worker_process):
    status, body = fetch_health(daphne_server.url)
    assert status == 200, body
    assert len(body) == 3 and all(value == "OK" for value in body.values()), body


@pytest.mark.worker
def test_health_is_red_without_a_celery_worker(daphne_server):
    status, body = fetch_health(daphne_server.url)
    assert status == 500
    assert any("Celery" in key and value != "OK" for key, value in body.items()), body
