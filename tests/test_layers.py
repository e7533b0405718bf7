"""The layers contract (pyproject.toml, [tool.importlinter]) holds, and really fails on an upward import."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["helpdesk", "transfers", "telephony", "reporting", "api", "supervision"]
LINT_IMPORTS = ROOT / ".venv" / "bin" / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    lint = LINT_IMPORTS if LINT_IMPORTS.exists() else shutil.which("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path):
    result = lint_imports(copy_of_the_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_from_the_core_breaks_the_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    selectors = tree / "helpdesk" / "selectors.py"
    selectors.write_text(selectors.read_text() + "\nfrom reporting import metrics  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "helpdesk.selectors -> reporting.metrics" in result.stdout


def test_transfers_importing_telephony_breaks_the_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    selectors = tree / "transfers" / "selectors.py"
    selectors.write_text(selectors.read_text() + "\nfrom telephony import models as call_models  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "transfers.selectors -> telephony.models" in result.stdout


def test_a_new_import_circle_in_the_core_breaks_the_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    frames = tree / "helpdesk" / "frames.py"
    frames.write_text(frames.read_text() + "\nfrom helpdesk import events  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "helpdesk.frames" in result.stdout and "helpdesk.events" in result.stdout


def product_modules() -> list[str]:
    """Every Python and JS module of the product (tests, migrations, benchmarks and packages' empty
    `__init__.py` aside), as a path from the repository's root."""
    found = []
    for package in PACKAGES:
        found += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts and p.name != "__init__.py"]
    found += list((ROOT / "static" / "js").rglob("*.js"))
    return sorted(str(p.relative_to(ROOT)) for p in found)


def test_architecture_md_names_every_module():
    """ARCHITECTURE.md is the map of the tree, one line per module: a module it does not name is
    one a newcomer cannot place (a line may name several modules of one folder by file name)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    missing = [path for path in product_modules() if path not in text and f"`{Path(path).name}`" not in text]
    assert not missing, f"add a line to ARCHITECTURE.md for: {missing}"
