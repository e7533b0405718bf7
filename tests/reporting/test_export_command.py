"""The export_data command: files per dataset, scoped by --manager / --site, progress bar, stdout."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from tests.factories import ManagerFactory, QueueFactory
from tests.reporting.conftest import DAY1, at, make_engagement

RANGE = ["--start", "2026-03-02", "--end", "2026-03-03"]


@pytest.fixture
def theirs(world):
    queue = QueueFactory(site=world.other_site, name="Elsewhere")
    return make_engagement(queue, at(DAY1, 10), answered=5, ended=60, visitor_name="Theirs")


def test_exports_files_for_a_managers_sites_only(world, theirs, tmp_path, capsys):
    call_command("export_data", "engagements", "messages", *RANGE, "--manager", "manager_a", "-o", str(tmp_path))
    rows = list(csv.reader(io.StringIO((tmp_path / "engagements_2026-03-02_2026-03-03.csv").read_text())))
    assert [r[0] for r in rows[1:]] == [str(world.engagements[k].pk) for k in ("e1", "e2", "e3", "e4", "e5", "e6")]
    assert "Theirs" not in (tmp_path / "engagements_2026-03-02_2026-03-03.csv").read_text()
    assert (tmp_path / "messages_2026-03-02_2026-03-03.csv").read_text().startswith("engagement,seq,sent_at")
    err = capsys.readouterr().err
    assert "engagements: 6 rows" in err and "6/6" in err  # tqdm's bar reached its total


def test_a_manager_cannot_ask_for_another_site(world, theirs, tmp_path):
    with pytest.raises(CommandError, match="does not manage"):
        call_command("export_data", "engagements", "--manager", "manager_a", "--site", str(world.other_site.pk))
    ManagerFactory(username="manager_b", sites=[world.other_site])
    call_command("export_data", "all", *RANGE, "--manager", "manager_b", "-o", str(tmp_path), "--no-progress")
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert "Lyon" not in text and "Alice" not in text and "Ann" not in text, path.name
    assert "Theirs" in (tmp_path / "engagements_2026-03-02_2026-03-03.csv").read_text()


def test_xlsx_and_site_filter_without_manager(world, theirs, tmp_path):
    call_command(
        "export_data",
        "engagements",
        *RANGE,
        "--site",
        str(world.other_site.pk),
        "--format",
        "xlsx",
        "-o",
        str(tmp_path),
    )
    sheet = load_workbook(tmp_path / "engagements_2026-03-02_2026-03-03.xlsx", read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == theirs.pk and rows[1][4] == "Theirs"


def test_stdout_and_bad_arguments(world, capsysbinary):
    call_command("export_data", "metrics_by_day", *RANGE, "--manager", "manager_a", "-o", "-", "--no-progress")
    rows = list(csv.reader(io.StringIO(capsysbinary.readouterr().out.decode())))
    assert rows[1][:3] == ["2026-03-02", "5", "3"]
    with pytest.raises(CommandError, match="Unknown dataset"):
        call_command("export_data", "nope")
    with pytest.raises(CommandError, match="No user"):
        call_command("export_data", "engagements", "--manager", "ghost")
