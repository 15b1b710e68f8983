"""`Table`: a header and rows of string cells, rendered as Markdown, CSV or LaTeX; `**x**` marks a
highlighted cell (Markdown bold, LaTeX \\textbf, plain in CSV)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def markdown(self) -> str:
        if not self.rows:
            return ""
        lines = ["| " + " | ".join(self.head) + " |", "|" + "---|" * len(self.head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in self.rows])

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.head)
        writer.writerows([[c.replace("**", "") for c in r] for r in self.rows])
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
        return {"caption": self.caption, "columns": self.head, "rows": [[c.replace("**", "") for c in r] for r in self.rows]}


def cell(value, ci=None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"
