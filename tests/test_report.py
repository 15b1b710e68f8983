"""The report from hand-built results: highlighted main table, CSV/LaTeX/JSON exports, the
answer-to-the-claim paragraph, the terminal summary, the figures, and the rebuild."""
import csv
import io
import json

from unlearn.report import rebuild, summary
from unlearn.report.claim import answer
from unlearn.report.tables import export, main_table
from unlearn.report.verdict import verdicts


def _model(kind, auc, utility, wall, relearn=-3.0):
    metrics = {"forget.mia_loss_auc": auc, "utility.model_utility": utility, "forget_quality": 0.5,
               "retain.nll": 1.0 + utility, "attacks.relearn.level": relearn}
    m = {"kind": kind, "status": "ok", "cost": {"wall_s": wall, "steps": 10}, "metrics": metrics,
         "per_seed": {"0": dict(metrics)},
         "ci": {"forget.mia_loss_auc": [auc - 0.05, auc + 0.05]},
         "curves": {"0": {"roc_forget": {"fpr": [0.0, 0.001, 0.5, 1.0], "tpr": [0.0, 0.1, 0.8, 1.0]},
                          "unlearning": [{"step": 1, "forget_nll_eval": 1.0, "retain_nll_eval": 1.0},
                                         {"step": 5, "forget_nll_eval": 2.0, "retain_nll_eval": 1.2}]}}}
    return m


def _results():
    retrain = _model("retrain", 0.40, 0.03, 50.0)  # the reference: three replicates around it
    retrain["replicates"] = {"0": [dict(retrain["metrics"], **{"forget.mia_loss_auc": a, "attacks.relearn.level": r})
                                   for a, r in ((0.38, -3.1), (0.40, -3.0), (0.42, -2.9))]}
    models = {"original": _model("original", 0.99, 0.07, 60.0, relearn=-1.0), "retrain": retrain,
              "sisa": _model("exact", 0.35, 0.01, 40.0),
              "ga": _model("approximate", 0.80, 0.02, 5.0),        # far from retrain: not removed
              "npo": _model("approximate", 0.42, 0.06, 10.0, relearn=-1.5)}  # like retrain, but relearns
    models["sisa"]["cost"]["speedup_vs_retrain"] = 1.25
    return {"experiment": "hand", "seeds": [0], "models": models, "verdict": verdicts(models),
            "meta": {"config_path": "configs/x.yaml", "device": "cpu", "processes": 1, "wall_s": 1.0,
                     "git": {"sha": "abc", "dirty": False}, "ci_method": "bootstrap"}}


def test_main_table_highlights_the_approximate_method_closest_to_retrain_or_best():
    table = main_table(_results())
    rows = {r[0]: r for r in table.rows}
    auc_col = table.head.index("forget MIA AUC ·")
    assert rows["npo"][auc_col].startswith("**0.420") and not rows["ga"][auc_col].startswith("**")
    assert not rows["retrain"][auc_col].startswith("**") and not rows["sisa"][auc_col].startswith("**")
    util_col = table.head.index("model utility ↑")  # higher is better: npo's 0.06 over ga's 0.02
    assert rows["npo"][util_col] == "**0.060**" and rows["original"][util_col] == "0.070"
    nll_col = table.head.index("retain NLL ↓")  # lower is better: ga's 1.02
    assert rows["ga"][nll_col] == "**1.020**"


def test_exports_in_every_format(tmp_path):
    results = _results()
    written = export(results, tmp_path)
    names = {p.name for p in written}
    assert {"main.md", "main.csv", "main.tex", "verdict.csv", "cost.tex", "attacks.md", "tables.json"} <= names
    assert "tuning.csv" not in names  # no tuning in these results: no empty table
    rows = list(csv.reader(io.StringIO((tmp_path / "verdict.csv").read_text())))
    assert rows[0][:2] == ["model", "verdict"]
    assert {r[0]: r[1] for r in rows[1:]} == {"sisa": "removed", "ga": "not removed", "npo": "suppressed"}
    tex = (tmp_path / "verdict.tex").read_text()
    assert r"\textbf{suppressed}" in tex and r"\toprule" in tex and "**" not in tex
    assert r"forget MIA AUC $\cdot$" in (tmp_path / "main.tex").read_text()
    data = json.loads((tmp_path / "tables.json").read_text())
    assert data["cost"]["columns"][:3] == ["model", "kind", "wall_s"]
    assert ["sisa", "exact", 40.0, 10, 1.25, None, None, 0.01 / 0.07] in data["cost"]["rows"]  # no FLOPs in the fixture
    assert "| sisa | exact | 40.0 | 10 | 1.25× | – | – | 0.143 |" in (tmp_path / "cost.md").read_text()


def test_csv_and_json_tables_carry_the_numbers_of_results_json(tmp_path):
    results = _results()
    export(results, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "main.csv").read_text())))
    assert [r["model"] for r in rows] == list(results["models"])
    for row in rows:  # every metric as value, lo, hi; floats at full precision, empty without an interval
        m = results["models"][row["model"]]
        for key in ("forget.mia_loss_auc", "utility.model_utility", "retain.nll"):
            assert float(row[key]) == m["metrics"][key]
            ci = m["ci"].get(key)
            assert [row[f"{key}_lo"], row[f"{key}_hi"]] == ([repr(ci[0]), repr(ci[1])] if ci else ["", ""])
        assert float(row["wall_s"]) == m["cost"]["wall_s"] and "**" not in row["forget.mia_loss_auc"]
        assert row["forget.nll"] == row["forget.nll_lo"] == ""  # no such metric in these results
    assert float(rows[3]["forget.mia_loss_auc_lo"]) == 0.80 - 0.05  # ga
    main = json.loads((tmp_path / "tables.json").read_text())["main"]
    npo = dict(zip(main["columns"], main["rows"][-1]))
    assert npo["model"] == "npo" and npo["utility.model_utility"] == 0.06 and npo["forget.nll_lo"] is None
    assert npo["forget.mia_loss_auc_hi"] == 0.42 + 0.05 and npo["forget_quality"] == 0.5  # the combined KS p
    assert "| **0.420 [0.370, 0.470]** |" in (tmp_path / "main.md").read_text()  # people still read intervals
    attacks = list(csv.DictReader(io.StringIO((tmp_path / "attacks.csv").read_text())))
    ga = next(r for r in attacks if r["model"] == "ga")
    assert float(ga["relearn.level_vs_retrain"]) == -3.0 - (-3.0) and 0 < float(ga["relearn.level_vs_retrain_p_adjusted"]) <= 1
    verdict = list(csv.DictReader(io.StringIO((tmp_path / "verdict.csv").read_text())))
    assert {r["model"]: (r["verdict"], r["verdict_over_unlearned"]) for r in verdict}["npo"] == ("suppressed", "False")


def test_answer_to_the_claim_names_each_outcome_with_its_cost():
    text = answer(_results())
    assert "SISA (sisa) does so too, at 0.80× retrain's time for the deletion" in text
    assert "*suppressed*: npo (0.20× retrain's time)" in text and "*not removed*: ga (0.10× retrain's time)" in text
    assert "No approximate method was shown to remove the data" in text and "2410.08827" in text and "2505.24379" in text
    assert "This run has no null control" in text
    results = _results()
    npo = results["models"]["npo"]
    npo["metrics"]["attacks.relearn.level"] = npo["per_seed"]["0"]["attacks.relearn.level"] = -3.0  # as retrain
    results["verdict"] = verdicts(results["models"])
    assert "*removed*: npo" in answer(results) and "No approximate method" not in answer(results)
    del npo["per_seed"]["0"]["attacks.relearn.level"]  # the attack did not run: nothing is shown
    results["verdict"] = verdicts(results["models"])
    assert results["verdict"]["npo"]["verdict"] == "inconclusive" and "relearn (missing)" in results["verdict"]["npo"]["reason"]


def test_summary_is_terminal_width_and_rebuild_writes_everything(tmp_path):
    results = _results()
    lines = summary(results).splitlines()
    assert len(lines) == 6 and max(len(line) for line in lines) <= 100
    assert lines[-1].split()[-1] == "suppressed" and lines[4].split()[-2:] == ["not", "removed"]
    stale = dict(results, verdict={})  # rebuild recomputes the verdicts from the numbers
    (tmp_path / "results.json").write_text(json.dumps(stale))
    report = rebuild(tmp_path).read_text()
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == results["verdict"]
    assert "**Answer to the claim** (hand, 1 seed)" in report and "| npo | **suppressed** |" in report
    for name in ("tradeoff", "cost", "roc", "unlearning"):
        assert f"figures/{name}.png" in report and (tmp_path / "figures" / f"{name}.pdf").exists()
    assert (tmp_path / "tables" / "main.tex").exists()


def test_publish_writes_a_self_contained_folder_that_regenerates_identically(tmp_path):
    results = _results()
    results["meta"].update(overrides=["seeds=[0,1,2]"], run_dir="runs/hand", peak_rss_mb=2048.0,
                           peak_rss_total_mb=3072.0)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(results))
    pub = tmp_path / "pub"
    readme = rebuild(tmp_path / "run", pub)
    assert readme == pub / "README.md" and (pub / "results.json").exists() and (pub / "figures" / "roc.png").exists()
    text = readme.read_text()
    assert "`unlearn run configs/x.yaml seeds=[0,1,2] --out runs/hand`" in text
    assert "wall time 1 s; peak RSS 3.0 GiB (all processes)" in text  # the summed peak, not the largest process
    assert f"`unlearn report runs/hand --publish {pub}`" in text
    kept = (".md", ".json", ".csv", ".tex", ".png", ".pdf")
    assert b"/CreationDate" not in (pub / "figures" / "roc.pdf").read_bytes()  # no date: same bytes on a rebuild
    first = {p.relative_to(pub): p.read_bytes() for p in pub.rglob("*") if p.suffix in kept}
    rebuild(pub, pub)  # from the published results.json alone
    again = {p.relative_to(pub): p.read_bytes() for p in pub.rglob("*") if p.suffix in kept}
    assert again == first


def _config(fraction, bootstrap=1000):
    return {"name": "hand", "seeds": [0], "eval": {"bootstrap": bootstrap},
            "data": {"source": "synthetic", "forget_users": None, "n_users": 100, "holdout_fraction": 0.2,
                     "objection_rounds": 1, "forget_fraction": fraction}}


def test_scalability_table_from_runs_at_other_forget_fractions(tmp_path):
    import pytest

    from unlearn.report.scaling import ScalingError, scaling_table

    main, small = _results(), _results()
    main["meta"].update(config=_config(0.1), run_dir="runs/hand")
    small["meta"]["config"] = _config(0.01, bootstrap=200)
    small["models"]["ga"]["cost"]["wall_s"] = 2.0
    small["meta"].update(overrides=["data.forget_fraction=0.01"], run_dir="runs/small", wall_s=750.0,
                         peak_rss_mb=2048.0, git={"sha": "def0123456789", "dirty": True})
    for name, results in (("main", main), ("small", small)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    pub = tmp_path / "pub"
    text = rebuild(tmp_path / "main", pub, [tmp_path / "small"]).read_text()
    assert (pub / "scaling" / "forget-0.01.json").exists() and "## Scalability" in text
    # each other fraction's command, commit, wall time and memory; the main run's are in the header
    assert ("- forget 0.01: `unlearn run configs/x.yaml data.forget_fraction=0.01 --out runs/small`; "
            "git def0123456 (dirty); cpu, 1 process(es); 12.5 min, peak RSS 2.0 GiB (largest process)") in text
    assert "- forget 0.1:" not in text
    assert f"`unlearn report runs/hand --publish {pub} --scaling runs/small`" in text
    table = scaling_table(main, pub)
    rows = {(r[0], r[2]): r for r in table.rows}
    # 100 users, 20 holdout: 80 members; round(0.1 x 80) = 8 objectors, round(0.01 x 80) = 0 -> at least 1
    assert rows[("0.1", "ga")][1] == "8" and rows[("0.01", "ga")][1] == "1"
    assert rows[("0.1", "ga")][3] == "not removed" and rows[("0.1", "npo")][3] == "suppressed"
    assert rows[("0.1", "ga")][-1] == "0.100" and rows[("0.01", "ga")][-1] == "0.040"  # 5 / 50, 2 / 50
    assert rows[("0.1", "retrain")][-1] == "–" and ("0.1", "original") not in rows
    assert "eval.bootstrap" in table.caption and "forget_fraction" not in table.caption
    assert "scaling" in json.loads((pub / "tables" / "tables.json").read_text())
    first = {p.relative_to(pub): p.read_bytes() for p in pub.rglob("*") if p.suffix in (".md", ".json")}
    rebuild(pub, pub)  # the published folder alone regenerates the same table
    assert {p.relative_to(pub): p.read_bytes() for p in pub.rglob("*") if p.suffix in (".md", ".json")} == first
    with pytest.raises(ScalingError, match="already in the table"):
        rebuild(tmp_path / "main", pub, [tmp_path / "main"])
    with pytest.raises(ScalingError, match="no results.json"):
        rebuild(tmp_path / "main", pub, [tmp_path / "nowhere"])


def test_the_report_states_the_calibrated_relearning_rate_and_every_candidate():
    from unlearn.report import relearn_calibration_lines
    results = _results()
    assert relearn_calibration_lines(results) == []  # not calibrated: nothing to say
    good = {"calibrated": True, "chosen": 1e-4, "tolerance": 0.05, "nll_before": 2.0,
            "candidates": [{"lr": 1e-5, "rise": 0.001, "status": "ok"}, {"lr": 1e-4, "rise": 0.02, "status": "ok"},
                           {"lr": 1e-3, "rise": 0.4, "status": "ok"}]}
    bad = {**good, "calibrated": False, "chosen": 1e-5, "message": "every candidate raised it"}
    results["models"]["original"]["relearn_calibration"] = {"0": good, "1": bad}
    lines = relearn_calibration_lines(results)
    assert "at most 5%" in lines[0]
    assert lines[2] == "- seed 0: lr 0.0001 (held-out NLL 2.000; change per rate: 1e-05 +0.1%, 0.0001 +2.0%, 0.001 +40.0%)"
    assert lines[3].startswith("- seed 1: lr 1e-05") and lines[3].endswith(
        "every candidate raised it; relearning is left out of the verdicts")


def test_figures_one_look_per_model_words_in_titles_curves_from_step_0_and_bars_in_range():
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from unlearn.methods import METHODS
    from unlearn.report import figures
    from unlearn.report.curve_figures import unlearning
    from unlearn.report.style import styles

    names = ["base", "original", "retrain", "retrain_null", "sisa", *METHODS, "npo_strong", "my_checkpoint"]
    looks = styles(names)
    assert len({(s["color"], s["marker"]) for s in looks.values()}) == len(names)  # never both shared
    assert styles(["npo", "ga"])["npo"] == looks["npo"] and styles(names[::-1]) == looks  # fixed by name
    assert figures._err(0.98, [0.9, 1.1], "forget.mia_loss_auc") == [0.98 - 0.9, 1.0 - 0.98]  # AUC at most 1
    assert figures._err(0.2, [-0.1, 0.5], "forget.nll") == [0.2, 0.5 - 0.2]  # NLL at least 0
    results = _results()
    models = results["models"]
    for name, m in models.items():
        m["metrics"].update({"forget.nll": 0.5, "retain.nll": 0.4})
        for s, v in ((0, 0.5), (25, 0.6)):
            m["metrics"][f"attacks.relearn.b_steps{s}.forget.nll"] = v
            m["ci"][f"attacks.relearn.b_steps{s}.forget.nll"] = [v - 0.7, v + 0.1]
    models["retrain"]["metrics"]["forget.nll"] = 3.0
    with plt.rc_context(figures.STYLE):
        fig = unlearning(results)
        forget = fig.axes[0]
        lines = {line.get_label(): line for line in forget.get_lines()}
        assert list(lines["npo"].get_xdata()) == [0, 1, 5] and lines["npo"].get_ydata()[0] == 0.5  # the original
        assert list(lines["retrain (whole split)"].get_ydata()) == [3.0, 3.0]  # the reference, drawn flat
        assert all(t.get_fontsize() >= 7 for t in fig.legends[0].get_texts()) and forget.get_title().split()
        plt.close(fig)
        fig = figures._relearn(results)
        assert fig.axes[0].get_title() == "Relearning on other users (protocol b)"
        bars = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
        assert bars and min(min(y for _, y in seg) for c in bars for seg in c.get_segments()) >= 0  # NLL >= 0
        plt.close(fig)
