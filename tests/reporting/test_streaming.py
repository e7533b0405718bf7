"""Exports under ASGI: the view answers with an async streaming response whose first chunk is the CSV header,
so the download starts before any row is read (Django's AsyncClient drives the async view as Daphne would)."""

import csv
import io

from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

from reporting.exports import DATASETS

QUERY = "?start=2026-03-02&end=2026-03-03"


async def fetch(user, name: str, fmt: str = "csv"):
    """The response and each chunk as the server yielded it (not joined)."""
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(reverse("reporting:export", args=[name, fmt]) + QUERY)
    chunks = []
    if response.streaming:
        chunks = [chunk async for chunk in response.streaming_content]
    return response, chunks


def test_csv_export_streams_asynchronously_with_the_header_first(world):
    # async_to_sync keeps the view's thread-sensitive database work on this thread (the test's transaction).
    response, chunks = async_to_sync(fetch)(world.manager, "engagements")
    assert response.status_code == 200
    assert response.streaming and response.is_async  # an async iterator: ASGI streams it without buffering
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    assert len(chunks) >= 2 and all(isinstance(chunk, bytes) for chunk in chunks)
    columns = DATASETS["engagements"].columns
    header = chunks[0].decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(header))) == [list(columns)]  # the header, and nothing else
    rows = list(csv.reader(io.StringIO(b"".join(chunks[1:]).decode())))
    assert sorted(int(row[0]) for row in rows) == sorted(e.pk for e in world.engagements.values())


def test_xlsx_export_streams_asynchronously_from_the_first_bytes_of_the_zip(world):
    response, chunks = async_to_sync(fetch)(world.manager, "engagements", "xlsx")
    assert response.status_code == 200 and response.streaming and response.is_async
    assert chunks and chunks[0][:2] == b"PK"  # the zip starts at once


def test_async_export_of_another_sites_manager_streams_only_a_header(world):
    from tests.factories import ManagerFactory

    stranger = ManagerFactory(username="manager_b", sites=[world.other_site])
    response, chunks = async_to_sync(fetch)(stranger, "engagements")
    assert response.is_async
    assert list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig")))) == [
        list(DATASETS["engagements"].columns)
    ]
