"""Exports: contents cell by cell in CSV and XLSX, formula neutralising, site time zones, site scoping."""

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from helpdesk.models import Note
from reporting.exports import DATASETS, csv_chunks, neutralise, write_xlsx
from tests.factories import ManagerFactory, MessageFactory, NoteFactory, OperatorFactory, QueueFactory, UserFactory
from tests.reporting.conftest import DAY1, at, make_engagement

RANGE = "start=2026-03-02&end=2026-03-03"


def download(client, dataset, fmt, query=RANGE):
    response = client.get(reverse("reporting:export", args=[dataset, fmt]) + "?" + query)
    body = b"".join(response) if response.streaming else response.content  # consumes the async stream
    return response, body


def csv_rows(body: bytes):
    return list(csv.reader(io.StringIO(body.decode())))


def xlsx_rows(body: bytes):
    sheet = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("hello = world", "hello = world"),
        ("", ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_neutralised(text, expected):
    assert neutralise(text) == expected


def test_engagements_csv_cell_by_cell_in_the_site_time_zone(world, client):
    world.site.time_zone = "Europe/Paris"  # UTC+1 in March (summer time starts on the 29th)
    world.site.save()
    client.force_login(world.manager)
    response, body = download(client, "engagements", "csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="engagements_2026-03-02_2026-03-03.csv"' in response["Content-Disposition"]
    rows = csv_rows(body)
    assert rows[0] == [
        "id", "site", "queue", "media", "visitor", "phone_number", "state", "end_reason",
        "created_at", "answered_at", "ended_at", "wait_seconds", "handle_seconds", "operator",
    ]  # fmt: skip
    e1, e3, e5 = world.engagements["e1"], world.engagements["e3"], world.engagements["e5"]
    assert rows[1] == [
        str(e1.pk), "Lyon", "Q1", "chat", "Ann", "", "ended", "visitor_left",
        "2026-03-02T11:00:00+01:00", "2026-03-02T11:00:10+01:00", "2026-03-02T11:05:10+01:00",
        "10", "300", "Alice",
    ]  # fmt: skip
    assert rows[3] == [
        str(e3.pk), "Lyon", "Q1", "chat", "Ann", "", "ended", "abandoned",
        "2026-03-02T12:00:00+01:00", "", "2026-03-02T12:00:50+01:00", "50", "", "",
    ]  # fmt: skip
    assert rows[5][0] == str(e5.pk) and rows[5][6] == "queued" and rows[5][10] == ""
    assert len(rows) == 7  # header + e1..e6


def test_engagements_xlsx_cell_by_cell(world, client):
    client.force_login(world.manager)
    response, body = download(client, "engagements", "xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = xlsx_rows(body)
    assert rows[0][:3] == ["id", "site", "queue"]
    e2 = world.engagements["e2"]
    assert rows[2] == [
        e2.pk, "Lyon", "Q1", "chat", "Ann", None, "ended", "visitor_left",
        "2026-03-02T10:05:00+00:00", "2026-03-02T10:05:30+00:00", "2026-03-02T10:08:50+00:00",
        30, 200, "Bob",
    ]  # fmt: skip
    assert len(rows) == 7


def test_transcript_and_notes_neutralise_formulas_in_both_formats(world, client):
    e1 = world.engagements["e1"]
    sent = at(DAY1, 10, 0, 12)
    MessageFactory(engagement=e1, sender="visitor", body="=cmd|' /C calc'!A0", created_at=sent)
    MessageFactory(engagement=e1, sender="operator", operator=world.op1, body="Hello, how can I help?", created_at=sent)
    NoteFactory(engagement=e1, author=world.op1, body="@everyone look", created_at=at(DAY1, 10, 1))
    client.force_login(world.manager)

    rows = csv_rows(download(client, "messages", "csv")[1])
    assert rows == [
        ["engagement", "seq", "sent_at", "sender", "operator", "body"],
        [str(e1.pk), "1", "2026-03-02T10:00:12+00:00", "visitor", "", "'=cmd|' /C calc'!A0"],
        [str(e1.pk), "2", "2026-03-02T10:00:12+00:00", "operator", "Alice", "Hello, how can I help?"],
    ]
    rows = xlsx_rows(download(client, "messages", "xlsx")[1])
    assert rows[1] == [e1.pk, 1, "2026-03-02T10:00:12+00:00", "visitor", None, "'=cmd|' /C calc'!A0"]
    note = Note.objects.get()
    rows = csv_rows(download(client, "notes", "csv")[1])
    assert rows[1] == [str(note.pk), str(e1.pk), "2026-03-02T10:01:00+00:00", "manual", "Alice", "'@everyone look"]
    rows = xlsx_rows(download(client, "notes", "xlsx")[1])
    assert rows[1] == [note.pk, e1.pk, "2026-03-02T10:01:00+00:00", "manual", "Alice", "'@everyone look"]


def test_availability_log_export(world, client):
    client.force_login(world.manager)
    rows = csv_rows(download(client, "availability_log", "csv")[1])
    assert rows[0] == ["operator", "media", "status", "started_at", "ended_at", "seconds"]
    assert rows[1] == [
        "Alice",
        "chat",
        "available",
        "2026-03-01T22:00:00+00:00",
        "2026-03-02T10:00:00+00:00",
        "43200",
    ]
    assert [r[2] for r in rows[1:]] == ["available", "busy", "away", "offline"]


def test_metrics_table_export_matches_the_page_figures(world, client):
    client.force_login(world.manager)
    rows = csv_rows(download(client, "metrics_by_queue", "csv")[1])
    assert rows[0][:5] == ["group", "offered", "answered", "abandoned", "abandonment_rate"]
    # Q1: offered 4, answered 3, abandoned 1, rate 1/4, avg wait 27.5, p90 of [10,20,30,50] = 30+0.7*20 = 44
    assert rows[1][:7] == ["Q1 (Lyon)", "4", "3", "1", "0.25", "27.5", "44.0"]
    rows = xlsx_rows(download(client, "metrics_by_day", "xlsx")[1])
    assert rows[1][:4] == ["2026-03-02", 5, 3, 1]
    assert rows[2][:4] == ["2026-03-03", 1, 1, 0]


def test_filters_apply_to_exports(world, client):
    client.force_login(world.manager)
    rows = csv_rows(download(client, "engagements", "csv", f"{RANGE}&queue={world.q2.pk}")[1])
    assert [r[2] for r in rows[1:]] == ["Q2", "Q2"]
    rows = csv_rows(download(client, "engagements", "csv", "start=2026-03-03&end=2026-03-03")[1])
    assert [r[0] for r in rows[1:]] == [str(world.engagements["e6"].pk)]


def test_manager_of_another_site_exports_nothing_of_this_site(world, client):
    other_queue = QueueFactory(site=world.other_site, name="Elsewhere")
    make_engagement(other_queue, at(DAY1, 10), answered=5, ended=60, visitor_name="Theirs")
    other_manager = ManagerFactory(username="manager_b", sites=[world.other_site])
    client.force_login(other_manager)
    for name in DATASETS:
        for fmt in ("csv", "xlsx"):
            # Even naming this site's queue and site in the filters gives nothing of it.
            query = f"{RANGE}&site={world.site.pk}&queue={world.q1.pk}"
            response, body = download(client, name, fmt, query)
            text = body.decode() if fmt == "csv" else repr(xlsx_rows(body))
            assert "Lyon" not in text and "Alice" not in text and "Ann" not in text, (name, fmt)
    rows = csv_rows(download(client, "engagements", "csv")[1])
    assert [r[4] for r in rows[1:]] == ["Theirs"]


def test_exports_need_a_manager(world, client):
    response = client.get(reverse("reporting:export", args=["engagements", "csv"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(OperatorFactory(site=world.site).user)
    assert client.get(reverse("reporting:export", args=["engagements", "csv"])).status_code == 403
    client.force_login(UserFactory())
    assert client.get(reverse("reporting:export", args=["engagements", "csv"])).status_code == 403
    client.force_login(world.manager)
    assert client.get(reverse("reporting:export", args=["nope", "csv"])).status_code == 404
    assert client.get(reverse("reporting:export", args=["engagements", "pdf"])).status_code == 404


def test_writers_used_directly_stream_in_chunks(world):
    dataset = DATASETS["engagements"]
    chunks = list(csv_chunks(dataset.columns, dataset.rows(world.scope())))
    assert chunks[0].startswith(b"id,site,queue")  # the header goes out before any query runs
    copied = list(csv_chunks(dataset.columns, [], blocks=lambda: dataset.csv_blocks(world.scope())))
    # COPY writes 10 where Python writes 10.0, and "" for an empty text: the same cells once read.
    assert csv_rows(b"".join(copied)) == csv_rows(b"".join(chunks).replace(b".0,", b","))
    buffer = io.BytesIO()
    write_xlsx(dataset.title, dataset.columns, dataset.rows(world.scope()), buffer)
    assert len(xlsx_rows(buffer.getvalue())) == 7


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_database_and_python_write_the_same_iso_times(world, zone, monkeypatch):
    """PostgreSQL writes the cells for speed; the Python fallback (other databases, unknown zones) must agree."""
    from datetime import timedelta

    from helpdesk.models import Engagement
    from reporting.exports import rows as export_rows

    world.site.time_zone = zone
    world.site.save()
    e1 = world.engagements["e1"]
    Engagement.objects.filter(pk=e1.pk).update(answered_at=e1.created_at + timedelta(seconds=10, microseconds=120))
    dataset = DATASETS["engagements"]
    by_database = list(dataset.rows(world.scope()))
    monkeypatch.setattr(export_rows, "_database_formats_cells", lambda: False)
    by_python = list(dataset.rows(world.scope()))
    assert by_database == by_python
    assert by_python[0][9][:19] == by_python[0][8][:17] + "10"  # to the second, microseconds dropped


def test_an_unknown_site_zone_falls_back_to_utc(world):
    world.site.time_zone = "Mars/Olympus_Mons"
    world.site.save()
    rows = list(DATASETS["engagements"].rows(world.scope()))
    assert rows[0][8] == "2026-03-02T10:00:00+00:00"


def test_streamed_xlsx_is_a_valid_workbook_with_awkward_text(tmp_path):
    """XML specials are escaped, characters XML cannot carry are dropped, spaces kept; Excel-valid zip."""
    import zipfile

    from reporting.exports import write_xlsx, xlsx_chunks

    rows = [
        (1, "a & b <c>", " lead and trail ", "bad\x01char", 2.5, None, ""),
        (2, "'=1+1", "naïve ✓", "", 0, True, "x"),
    ]
    chunks = list(xlsx_chunks("Odd [title]: 1/2", ("id", "a", "b", "c", "d", "e", "f"), iter(rows)))
    assert chunks[0][:2] == b"PK" and len(chunks) >= 3  # the zip starts before the rows are read
    path = tmp_path / "odd.xlsx"
    write_xlsx("Odd", ("id", "a", "b", "c", "d", "e", "f"), rows, str(path))
    assert zipfile.ZipFile(path).testzip() is None
    workbook = load_workbook(path)  # full (not read-only) load parses every part
    sheet = workbook.active
    assert [cell.font.bold for cell in sheet[1]] == [True] * 7
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert values == [
        [1, "a & b <c>", " lead and trail ", "badchar", 2.5, None, None],
        [2, "'=1+1", "naïve ✓", None, 0, True, "x"],
    ]


AWKWARD = [
    'a & b <c> "d"',  # XML specials
    " lead and trail ",  # kept (xml:space)
    "bad\x01\x0bchar\ufffe\uffff",  # characters XML 1.0 cannot carry: dropped
    "tab\tnew\nline\rcr\\back",  # kept, CR included
    "=1+1",  # neutralised
    "naïve ✓ 中文",
]


def test_xlsx_rows_written_by_postgresql_match_python_cell_by_cell(world, monkeypatch, tmp_path):
    """PostgreSQL writes each `<row>` (COPY); the Python writer (metric tables, other databases) must agree."""
    from helpdesk.models import Visitor
    from reporting import exports
    from reporting.exports import rows as export_rows

    for engagement, name in zip(world.engagements.values(), AWKWARD, strict=False):
        Visitor.objects.filter(pk=engagement.visitor_id).update(name=name, phone_number=name[::-1])
    dataset = DATASETS["engagements"]
    rows = dataset.rows(world.scope())
    assert isinstance(rows, export_rows.RawRows) and rows.xlsx_blocks() is not None  # the PostgreSQL path is taken
    by_database = b"".join(exports.xlsx_chunks(dataset.title, dataset.columns, rows))
    monkeypatch.setattr(export_rows, "_database_formats_cells", lambda: False)
    by_python = b"".join(exports.xlsx_chunks(dataset.title, dataset.columns, dataset.rows(world.scope())))
    assert xlsx_rows(by_database) == xlsx_rows(by_python)
    path = tmp_path / "engagements.xlsx"
    path.write_bytes(by_database)
    values = [[cell.value for cell in row] for row in load_workbook(path).active.iter_rows(min_row=2)]
    assert [row[4] for row in values] == [
        'a & b <c> "d"',
        " lead and trail ",
        "badchar",
        "tab\tnew\nline\rcr\\back",
        "'=1+1",
        "naïve ✓ 中文",
    ]
    assert [row[11] for row in values[:4]] == [10, 30, 50, 40]  # numbers stay numbers
    assert all(isinstance(row[0], int) for row in values)


def test_xlsx_zip64_records_when_sizes_or_offsets_pass_the_limit(tmp_path, monkeypatch):
    """The streamed archive's Zip64 branches (a sheet past 2 GB), exercised by lowering the limit
    below the sheet but above every other part, as it is for real."""
    import zipfile

    from reporting import exports
    from reporting.exports import zipstream

    monkeypatch.setattr(zipstream, "ZIP64_LIMIT", 12_000)
    rows = [(n, f"row {n} {n * n}", n / 7) for n in range(5000)]
    path = tmp_path / "big.xlsx"
    path.write_bytes(b"".join(exports.xlsx_chunks("Big", ("n", "text", "ratio"), rows)))
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.compress_size > 12_000  # sizes, later parts' offsets and the directory's go Zip64
        assert archive.start_dir > 12_000 and max(item.header_offset for item in archive.infolist()) > 12_000
    values = xlsx_rows(path.read_bytes())
    assert values[0] == ["n", "text", "ratio"] and values[-1] == [4999, "row 4999 24990001", 4999 / 7]
    assert len(values) == 5001
