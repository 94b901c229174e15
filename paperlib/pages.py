"""The book's generated pages, written from verdict rows and a provenance record: the scorecard (a forest
plot, a compact table, the evidence folded per claim), the intro's "what this build found" and "About this
build". Every sentence that states a result is generated here from the rows."""

from __future__ import annotations

import json
from pathlib import Path

from . import claims

FOREST = "scorecard.png"  # the forest plot beside the scorecard page


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell or a list item (no column breaks, no stray math or emphasis)."""
    return str(text).replace("|", "\\|").replace("$", "\\$").replace("*", "\\*").replace("\n", " ")


def forest_rows(rows: list[dict]) -> list[dict]:
    """The rows the forest plot draws: the empirical claims (theorem checks aside), each with its short text."""
    return [{**r, "short": claims.short(r["claim"], 40)} for r in rows if claims.section(r["id"]) != "T"]


def write_forest(rows: list[dict], path: Path, dpi: int = 100) -> Path:
    """Draw the forest plot of ``rows`` into ``path`` (PNG at a modest resolution)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots

    plots.setup()
    fig = plots.forest(forest_rows(rows))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def compact_table(rows: list[dict]) -> str:
    """id, the claim in a few words, verdict, estimate [interval]: four columns that fit the text column."""
    lines = ["| id | claim | verdict | estimate [interval] |", "|---|---|---|---|"]
    for r in rows:
        shown = claims.readable(r)
        numbers = f"{shown['estimate']} {shown['interval']}".strip() or "–"
        lines.append(f"| {r['id']} | {cell(claims.short(r['claim']))} | {r['verdict']} | {numbers} |")
    return "\n".join(lines) + "\n"


def _chapter_links(notebooks: str, chapters: list[str]) -> str:
    names = [c for n in notebooks.split("/") for c in chapters if c.startswith(n)]
    return ", ".join(f"[{Path(c).stem}](chapters/{c})" for c in names) or notebooks


def evidence(row: dict, chapters: list[str]) -> str:
    """One claim's full evidence folded in a dropdown: statistic, threshold, interval method, null, paper,
    exact value, scale and chapter."""
    shown = claims.readable(row)
    title = f"{row['id']} · {row['verdict']} · {claims.short(row['claim'], 60)}"
    items = [
        ("claim", row["claim"]),
        ("statistic", row.get("statistic")),
        ("threshold", row.get("threshold")),
        ("estimate", f"{shown['estimate']} {shown['interval']}".strip()),
        ("interval", row.get("method")),
        ("null or margin", shown["null"]),
        ("paper", row.get("paper")),
        ("exact value", row.get("exact")),
        ("scale", shown["scale"]),
    ]
    body = "\n".join(f"- **{k}**: {cell(v)}" for k, v in items if v not in (None, ""))
    body += f"\n- **decided in**: {_chapter_links(row.get('notebook', ''), chapters)}"
    return f"````{{dropdown}} {cell(title)}\n{body}\n````\n"


def scorecard_page(profile: str, rows: list[dict], chapters: list[str]) -> str:
    """The scorecard: the forest plot, the compact table per group, the evidence per claim, and one
    generated line per claim that does not hold on how its setting differs from the paper's."""
    counts: dict[str, int] = {}
    for r in rows:
        word = r["verdict"].split(" (")[0]  # the verdict word; its note is in the tables below
        counts[word] = counts.get(word, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    parts = [
        "# Scorecard\n\n"
        f"Every claim with its verdict in this build (profile **{profile}**: {summary}). A verdict follows the "
        "rule its chapter wrote before the runs: `holds` when the effect is in the claimed direction and its "
        "interval excludes the null, `fails` when the interval excludes the claimed effect, "
        "`inconclusive` otherwise; a claim of several parts computes each part's interval at the familywise "
        "95 % level (Bonferroni) and shows the part that decided it.\n\n"
        f"```{{figure}} {FOREST}\n:width: 100%\n:alt: forest plot of the empirical claims\n\n"
        "Each empirical claim: its estimate (dot) and deciding interval (bar), coloured by verdict, against the null "
        "or margin it is tested against (dashed). Each line has its own scale: the claims measure different "
        "quantities.\n```\n",
        "\n## At a glance\n",
    ]
    for key, title in claims.SECTIONS.items():
        part = [r for r in rows if claims.section(r["id"]) == key]
        if part:
            parts.append(f"\n### {title}\n\n" + compact_table(part))
    parts.append(
        "\n## Evidence per claim\n\nOpen a claim for its statistic, threshold, null, the paper's number and "
        f"the scale it was decided at. From the shell: `python -m paperlib claims --profile {profile} --json`.\n\n"
    )
    parts.append("\n".join(evidence(r, chapters) for r in rows))
    gaps = [claims.setting_gap(r) for r in rows if r["verdict"] != "holds" and claims.section(r["id"]) != "T"]
    if gaps:
        parts.append("\n## Where a claim does not hold: this build's setting against the paper's\n\n")
        parts.append("\n".join(f"- {cell(g)}" for g in gaps) + "\n")
    return "".join(parts)


def found_page(profile: str, folder: Path | None = None) -> str:
    """The intro's generated part: what this build found, from the scorecard's rows."""
    return (
        f"This build ran the **{profile}** profile. Its verdicts, from the [scorecard](scorecard.md):\n\n"
        + claims.found(profile, folder)
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def about_page(prov: dict, origin: str) -> str:
    """'About this build': where the chapters come from (``origin``, a sentence), the commit, date, machine
    and threads, each chapter's wall time, runs trained and config hashes, and the profile's settings."""
    m = prov["machine"]
    env = ", ".join(f"{k}={v}" for k, v in m["environment"].items())
    changed = prov.get("changed_files") or []
    date = prov.get("commit_date", "")[:10]
    code = f"commit `{prov['commit'][:12]}`" + (f" ({date})" if date else "")
    if changed:
        code += f", with uncommitted changes to {len(changed)} file(s): " + ", ".join(
            f"`{f}`" for f in changed
        )
    total = prov.get("total_seconds")
    built = prov["date"] + (f", {_duration(total)} in all" if total else "")
    if prov.get("store"):
        built += f", from {prov['store']}"
    lines = [
        "# About this build\n",
        origin + "\n",
        "| | this build |\n|---|---|",
        f"| code | {code} |",
        f"| built | {built} |",
        f"| machine | {m['cores']} cores ({m['usable_cores']} usable), {m['processor']}, {m['platform']} |",
        f"| software | Python {m['python']}, torch {m['torch']} with {m['torch_threads']} thread(s); {env} |",
        "",
        "## Chapters\n",
        "| chapter | wall time | runs trained | configs (run-store hashes) |\n|---|---|---|---|",
    ]
    for name, entry in prov["chapters"].items():
        configs = "; ".join(f"{exp}: {', '.join(h)}" for exp, h in entry.get("configs", {}).items()) or "–"
        runs = entry.get("runs_trained")
        lines.append(
            f"| {Path(name).stem} | {_duration(entry.get('seconds'))} | {'–' if runs is None else runs} | "
            f"{configs} |"
        )
    times = [e.get("seconds") for e in prov["chapters"].values()]
    runs = [e.get("runs_trained") for e in prov["chapters"].values()]
    if times and None not in times:
        lines.append(f"| all | {_duration(sum(times))} | {'–' if None in runs else sum(runs)} | |")
    lines.append(
        f"\n## Settings of the {prov['profile']} profile\n\nEach experiment's configuration before its sweep "
        "(the sweep varies seeds, data sets or levels around it), by the names `--set` takes.\n"
    )
    for name, cfg in prov["settings"].items():
        settings = "\n".join(f"{k} = {json.dumps(v)}" for k, v in _dotted(cfg))
        lines.append(f"````{{dropdown}} {name}\n```text\n{settings}\n```\n````\n")
    return "\n".join(lines) + "\n"


def _dotted(cfg: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested config as (dotted name, value) pairs: the names ``--set`` takes (``recipe.steps``)."""
    out: list[tuple[str, object]] = []
    for key, value in cfg.items():
        if isinstance(value, dict):
            out += _dotted(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
