"""CSV as a stream of bytes, header first: data rows from PostgreSQL's COPY when it can, else Python's csv writer."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from asgiref.sync import sync_to_async

from .rows import CHUNK_ROWS


class _Echo:
    """A file-like that hands back what is written, so csv.writer can build a chunk of text."""

    def __init__(self):
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_chunks(
    columns: tuple[str, ...],
    rows: Iterable[tuple],
    *,
    progress: Callable[[int], None] | None = None,
    blocks: Callable[[], Iterator[bytes] | None] | None = None,
) -> Iterator[bytes]:
    """CSV bytes a chunk at a time, header first (so the first byte goes out before any query).

    `blocks`, when it gives an iterator, supplies the data rows ready-made (PostgreSQL's COPY);
    otherwise Python's csv writer formats `rows`. Both write LF line ends.
    """
    sink = _Echo()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(columns)
    yield sink.take().encode()
    ready = blocks() if blocks else None
    if ready is not None:
        for block in ready:
            if progress:
                progress(getattr(block, "rows", 0))
            yield bytes(block)
        return
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK_ROWS:
            writer.writerows(batch)
            if progress:
                progress(len(batch))
            batch.clear()
            yield sink.take().encode()
    if batch:
        writer.writerows(batch)
        if progress:
            progress(len(batch))
        yield sink.take().encode()


def lazy_rows(rows: Callable[[], Iterable[tuple]]) -> Iterator[tuple]:
    """Defer building the rows (queries included) to the first `next()`, made in the sync thread."""
    yield from rows()


async def acsv_chunks(
    columns: tuple[str, ...],
    rows: Callable[[], Iterable[tuple]],
    blocks: Callable[[], Iterator[bytes] | None] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV stream for ASGI: each chunk is produced in the sync thread (which owns the DB cursor)."""
    chunks = csv_chunks(columns, lazy_rows(rows), blocks=blocks)
    done = object()
    next_chunk = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    try:
        while (chunk := await next_chunk()) is not done:
            yield chunk
    finally:
        # A client that goes away must not leave the server-side cursor (or the COPY) open.
        await sync_to_async(chunks.close, thread_sensitive=True)()
