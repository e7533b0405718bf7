"""axe-core in the browser tests: a page (in a given state) must have no serious or critical WCAG 2.1 A/AA violation.

`assert_accessible(page, name)` runs axe (axe-playwright-python's bundled axe-core) on what the page
shows now, writes the whole result to var/a11y/<name>.json for inspection, and fails with one line per
serious or critical violation: rule id, impact, the elements' selectors and axe's help text.
Moderate and minor findings are kept in the JSON but do not fail the test. With A11Y_SURVEY=1 the
failures are printed instead of raised, to list everything on a page at once while fixing it.
"""

from __future__ import annotations

import json
import os

from axe_playwright_python.sync_playwright import Axe

A11Y_DIR = os.environ.get("A11Y_DIR", "var/a11y")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = ("serious", "critical")

_axe = Axe()


def axe_results(page, *, context: str | dict | None = None) -> dict:
    """axe's full answer for the page as it is now, checked against WCAG 2.1 A and AA."""
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations", "incomplete"]}
    return _axe.run(page, context=context, options=options).response


def settle(page) -> None:
    """Wait for the page's one-off keyframe animations (a prompt sliding in) to end: axe measures colours
    mid-fade. Endless ones (a pulse) and transitions (a countdown meter shrinking) change no colour."""
    page.wait_for_function(
        """() => document.getAnimations().every((animation) => !(animation instanceof CSSAnimation)
             || animation.effect.getComputedTiming().iterations === Infinity || animation.playState !== "running")"""
    )


def serious_violations(results: dict) -> list[dict]:
    return [v for v in results["violations"] if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:6])
        more = len(violation["nodes"]) - 6
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {targets}{f' and {more} more' if more > 0 else ''}"
            f" — {violation['help']} ({violation['helpUrl']})"
        )
        checks = violation["nodes"][0]["any"] or violation["nodes"][0]["all"]
        if checks:
            lines.append(f"    first: {checks[0]['message']}")
    return "\n".join(lines)


def assert_accessible(page, name: str, *, context: str | dict | None = None) -> dict:
    """Fail on any serious or critical WCAG 2.1 A/AA violation axe finds on the page; return axe's results."""
    settle(page)
    results = axe_results(page, context=context)
    os.makedirs(A11Y_DIR, exist_ok=True)
    with open(os.path.join(A11Y_DIR, f"{name}.json"), "w", encoding="utf-8") as report:
        json.dump(results, report, indent=2)
    failing = serious_violations(results)
    if failing and os.environ.get("A11Y_SURVEY"):
        print(f"\nA11Y {name}:\n{describe(failing)}")
        return results
    assert not failing, f"{name}: {len(failing)} serious/critical accessibility violations on {page.url}\n" + describe(
        failing
    )
    return results
