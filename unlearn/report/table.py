"""`Table`: a header and rows of cells, rendered as Markdown and LaTeX for people and as CSV and
JSON for programs; `**x**` marks a highlighted cell (Markdown bold, LaTeX \\textbf, plain elsewhere).

A cell is a string. A `Value` cell is a string that also carries the numbers it shows: Markdown
and LaTeX print its text ("0.836 [0.219, 1.453]"), CSV and JSON one column per part of it
(`forget.nll` 0.836, `forget.nll_lo` 0.219, `forget.nll_hi` 1.453), numbers at full precision,
empty (JSON null) where there is no number or interval. A column's parts are those its Value
cells have; a plain cell in such a column ("–", "failed") is empty in every part. The columns of
CSV and JSON are named by `keys` (metric keys, snake_case), else by the header.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field


class Value(str):
    """A cell's text with its machine-readable parts: (suffix, number, string or None) pairs."""

    parts: tuple[tuple[str, object], ...]

    def __new__(cls, text: str, parts=()):
        obj = super().__new__(cls, text)
        obj.parts = tuple(parts)
        return obj


def bold(text: str) -> str:
    """`**text**`, keeping a Value's parts."""
    return Value(f"**{text}**", text.parts) if isinstance(text, Value) else f"**{text}**"


def _machine(value):
    """A part as CSV/JSON hold it: a finite float or int, a string, or None."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    keys: list[str] | None = None  # the CSV/JSON column names (module docstring); None: the header

    def markdown(self) -> str:
        if not self.rows:
            return ""
        lines = ["| " + " | ".join(self.head) + " |", "|" + "---|" * len(self.head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in self.rows])

    def _layout(self) -> list[tuple[str, list[str] | None]]:
        """Per column: its machine name and the suffixes of its parts (None: a plain text column)."""
        names = self.keys or self.head
        layout = []
        for j, name in enumerate(names):
            suffixes: list[str] = []
            for row in self.rows:
                for suffix, _ in getattr(row[j], "parts", ()):
                    if suffix not in suffixes:
                        suffixes.append(suffix)
            layout.append((name, suffixes or None))
        return layout

    def columns(self) -> list[str]:
        """The CSV/JSON column names."""
        return [name + s for name, suffixes in self._layout() for s in (suffixes or [""])]

    def records(self) -> list[list]:
        """The rows as CSV/JSON hold them: numbers as numbers, text without highlighting."""
        layout, out = self._layout(), []
        for row in self.rows:
            values = []
            for (_, suffixes), c in zip(layout, row):
                if suffixes is None:
                    values.append(c.replace("**", ""))
                    continue
                parts = dict(getattr(c, "parts", ()))
                values += [_machine(parts.get(s)) for s in suffixes]
            out.append(values)
        return out

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns())
        writer.writerows([["" if v is None else repr(v) if isinstance(v, float) else v for v in r]
                          for r in self.records()])
        return buf.getvalue()

    def latex(self) -> str:
        """A booktabs tabular in a table float (needs \\usepackage{booktabs})."""
        def tex(cell: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                         ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("·", r"$\cdot$"), ("×", r"$\times$"),
                         ("Δ", r"$\Delta$"), ("÷", r"$\div$"), ("–", "--"), ("✗", r"$\times$"), ("✓", r"\checkmark{}"),
                         ("✔", r"\checkmark{}"), ("★", r"$\star$")):
                cell = cell.replace(a, b)
            if cell.startswith("**") and cell.endswith("**") and len(cell) > 4:
                cell = r"\textbf{" + cell[2:-2] + "}"
            return cell.replace("**", "")
        lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(self.head) + "}",
                 r"\toprule", " & ".join(tex(h) for h in self.head) + r" \\", r"\midrule"]
        lines += [" & ".join(tex(c) for c in r) + r" \\" for r in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.caption:
            lines.append(r"\caption{" + tex(self.caption) + "}")
        return "\n".join(lines + [r"\end{table}", ""])

    def as_json(self) -> dict:
        """Caption, column names (`columns`) and rows as CSV has them, numbers as JSON numbers."""
        return {"caption": self.caption, "columns": self.columns(), "rows": self.records()}


POINT = object()  # cell() called without an interval


def cell(value, ci=POINT) -> Value:
    """A metric's value to 3 decimals, with its 95% interval "[lo, hi]" when one is given. Called
    with `ci` (even None: one seed), the cell has `_lo` and `_hi` parts, so the CSV columns do not
    depend on the number of seeds; without it, the value alone."""
    if ci is POINT:
        return Value("–" if value is None else f"{value:.3f}", (("", value),))
    lo, hi = ci if ci else (None, None)
    text = "–" if value is None else f"{value:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if ci else "")
    return Value(text, (("", value), ("_lo", lo), ("_hi", hi)))


def number(value, text: str, **more) -> Value:
    """A number shown as `text` (e.g. f"{wall:.1f}", "1.25×"); `more`: further parts by suffix."""
    return Value(text, (("", value), *(("_" + k, v) for k, v in more.items())))
