"""No secret in the repository: every tracked file is scanned for key-like strings."""

import os
import re
import subprocess

from tests.processes import ROOT

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Twilio account SID or API key": re.compile(r"\b(?:AC|SK)[0-9a-f]{32}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Stripe live key": re.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s@'\"]+)@"),
    "hard-coded secret setting": re.compile(
        r"\b(?:SECRET_KEY|[A-Z_]*PASSWORD|[A-Z_]*AUTH_TOKEN|[A-Z_]*API_KEY|[A-Z_]*SECRET)\b\s*[=:]\s*[\"']([^\"'\s]{16,})[\"']"
    ),
}
# Values that are obviously placeholders or the public local-only default.
PLACEHOLDER = re.compile(r"insecure|example|placeholder|change|dummy|fake|test|local|xxxx|\$\{?|<|\{", re.IGNORECASE)
LOCAL_DIRS = ("var", "node_modules", "__pycache__")
SKIPPED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".pdf", ".xlsx", ".sqlite3")


def tracked_files() -> list[str]:
    """Files git tracks; outside a git checkout, every file except tooling and local state."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30)
        return [name for name in listing.stdout.decode().split("\0") if name]
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = []
        for directory, subdirs, names in os.walk(ROOT):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in LOCAL_DIRS]
            files += [os.path.relpath(os.path.join(directory, name), ROOT) for name in names]
        return files


def test_no_environment_file_is_tracked():
    env_files = [name for name in tracked_files() if os.path.basename(name) == ".env"]
    assert env_files == [], "Local .env files hold secrets: keep them out of git"


def test_no_tracked_file_contains_a_key_like_string():
    found = []
    for name in tracked_files():
        path = ROOT / name
        if name.endswith(SKIPPED_SUFFIXES) or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                value = match.group(match.lastindex or 0)
                if pattern.groups and PLACEHOLDER.search(value):
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {kind}")
    assert found == [], "Secrets belong in the environment, not the repository:\n" + "\n".join(found)


def test_the_scanner_recognises_secrets():
    """Guard against a scanner that silently matches nothing."""
    samples = {
        "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
        "Twilio account SID or API key": "AC" + "0123456789abcdef" * 2,
        "password in a URL": "postgres://helpdesk:" + "s3cr3tPass@db/helpdesk",
        "hard-coded secret setting": 'SECRET_KEY = "' + "q8#nR2" * 5 + '"',
    }
    for kind, sample in samples.items():
        assert SECRET_PATTERNS[kind].search(sample), kind
    assert PLACEHOLDER.search("insecure-local-only-key-set-SECRET_KEY-in-production")
