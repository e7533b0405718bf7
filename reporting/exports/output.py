"""Where an export goes: a streamed HTTP download (ASGI, no buffering) or a file."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from reporting.scope import ReportScope

from .csv import acsv_chunks, csv_chunks, lazy_rows
from .datasets import Dataset
from .xlsx import axlsx_chunks, write_xlsx


def streaming_response(
    *,
    title: str,
    columns: tuple[str, ...],
    rows: Callable[[], Iterable[tuple]],
    fmt: str,
    filename: str,
    csv_blocks: Callable[[], Iterator[bytes] | None] | None = None,
):
    """A StreamingHttpResponse over an async iterator (what ASGI streams without buffering)."""
    from django.http import StreamingHttpResponse

    chunks = acsv_chunks(columns, rows, csv_blocks) if fmt == "csv" else axlsx_chunks(title, columns, rows)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def export_to_file(
    dataset: Dataset, scope: ReportScope, *, fmt: str, target, progress: Callable[[int], None] | None = None
) -> None:
    """Write one dataset to a path or binary file (the management command's and the bench's way)."""
    if fmt == "xlsx":
        write_xlsx(dataset.title, dataset.columns, dataset.rows(scope), target, progress=progress)
        return
    handle = open(target, "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
    try:
        chunks = csv_chunks(
            dataset.columns,
            lazy_rows(lambda: dataset.rows(scope)),
            progress=progress,
            blocks=lambda: dataset.csv_blocks(scope),
        )
        for chunk in chunks:
            handle.write(chunk)
    finally:
        if handle is not target:
            handle.close()


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
