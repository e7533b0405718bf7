"""Exports: datasets streamed as CSV or XLSX, for the reports page, the admin, the command and the bench.

Memory stays flat whatever the size: rows come from a server-side cursor a chunk at a time
inside a read-only transaction; CSV is written by PostgreSQL's COPY (or Python's csv module
elsewhere) and streamed in blocks; XLSX is a package built by openpyxl's write-only workbook
whose sheet rows (`<row>` elements written by PostgreSQL's COPY, or by Python elsewhere) are
deflated and streamed as they come. Every text cell is neutralised against formula injection
and every time is written in its site's time zone as ISO 8601.

The modules, by concern: `cells` (neutralising, ISO text and the other cell expressions),
`rows` (cursor and COPY rows of a raw dataset), `sheetxml` (XLSX `<row>` elements), `specs`
(the raw tables' columns), `datasets` (the registry), `csv`, `xlsx`, `zipstream` (the
streamed archive) and `output` (HTTP responses and files). Use them through this module.
"""

from .cells import Cell, neutralise
from .csv import csv_chunks
from .datasets import DATASETS, Dataset, raw_dataset, register
from .output import CONTENT_TYPES, export_to_file, streaming_response
from .rows import RawSpec
from .xlsx import write_xlsx, xlsx_chunks

__all__ = [
    "CONTENT_TYPES",
    "Cell",
    "RawSpec",
    "raw_dataset",
    "DATASETS",
    "Dataset",
    "csv_chunks",
    "export_to_file",
    "neutralise",
    "register",
    "streaming_response",
    "write_xlsx",
    "xlsx_chunks",
]
