"""The README and docs/ stay honest: every relative link points into the repository at a file or
folder that exists, every `#anchor` into a Markdown file at a heading it has, the README's first
screen stays short, and its table of verdicts is the published quick experiment's. Offline, no
model, well under a second."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*_]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]  # http:, https:, mailto:, …


def test_the_slug_follows_github():
    assert _slug("Attacks: removed, or only hidden?") == "attacks-removed-or-only-hidden"
    assert _slug("`results.json`") == "resultsjson"
    assert _slug("Splits, tables and canaries") == "splits-tables-and-canaries"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if ROOT not in (dest, *dest.parents):
            broken.append(f"{target}: outside the repository")
        elif not dest.exists():
            broken.append(f"{target}: no such file or folder")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_first_screen_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("## "))
    assert first < 40, f"the README's first screen is {first} lines; keep it under 40"


def test_the_readme_table_is_the_published_quick_experiment():
    results = json.loads((ROOT / "experiments/quick/results.json").read_text(encoding="utf-8"))
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].split(" ")[0] in results["verdict"]:
            rows[cells[0].split(" ")[0]] = cells
    assert set(rows) == set(results["verdict"]), "one row per judged model"
    for name, (_, verdict, qa, _) in rows.items():
        judged = results["verdict"][name]
        assert verdict.split(",")[0] == judged["verdict"], name
        if judged.get("per_seed"):
            assert "every seed" in verdict and all(v["verdict"] == judged["verdict"]
                                                    for v in judged["per_seed"].values()), name
        assert qa == f"{results['models'][name]['metrics']['forget.qa_accuracy']:.3f}", name
