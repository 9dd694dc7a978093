"""The trust checks as a small text table: what `stemlime explain --checks` and `stemlime check` print, and the rows pages show."""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def check_rows(checks: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(check, label, measure, value) per line of the checks table (text values; pages show the same rows)."""
    rows = []
    for label, result in checks.get("fidelity", {}).get("labels", {}).items():
        rows.append(("fidelity", label, "surrogate R^2", _number(result["r2"])))
        for curve in ("deletion", "insertion"):
            values = result[curve]
            rows.append(
                ("fidelity", label, f"{curve} AOPC (random order)", f"{_number(values['aopc'])} ({_number(values['random_aopc'])})")
            )
    stability = checks.get("stability", {})
    for label, result in stability.get("labels", {}).items():
        rows.append(("stability", label, f"top-1 agreement ({len(stability['seeds'])} seeds)", _number(result["top1"])))
        rows.append(("stability", label, "Kendall tau", _number(result["kendall_tau"])))
    search = checks.get("stability_search")
    if search:
        found = "not reached" if search["samples"] is None else str(search["samples"])
        for step in search["steps"]:
            rows.append(("stability", "all labels", f"Kendall tau at {step['samples']} samples", _number(step["kendall_tau"])))
        rows.append(("stability", "all labels", f"samples for Kendall tau >= {search['target']}", found))
    sanity = checks.get("sanity")
    if sanity:
        for label, rho in sanity["baseline"].items():
            rows.append(("sanity", label, "Spearman, seed to seed", _number(rho)))
            for step in sanity["steps"]:
                rows.append(
                    (
                        "sanity",
                        label,
                        f"Spearman, top {len(step['randomized'])} layer(s) random (median of {sanity['draws']})",
                        _number(step["spearman"][label]),
                    )
                )
            verdict = "passed" if sanity["passed"][label] else "FAILED"
            if not sanity.get("conclusive", {}).get(label, True):
                verdict += " (inconclusive: seed-to-seed baseline below 0.9, raise --samples)"
            rows.append(("sanity", label, f"collapsed below {sanity['threshold']}", verdict))
    for label, value in checks.get("complexity", {}).items():
        rows.append(("complexity", label, "entropy of |weights|", _number(value)))
    return rows


def format_checks(checks: dict[str, Any]) -> str:
    """Aligned columns: check, label, measure, value."""
    rows = [("check", "label", "measure", "value")] + check_rows(checks)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)
