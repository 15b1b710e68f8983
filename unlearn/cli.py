"""Command line: `unlearn run | data | report | sisa-check | bench`.

    unlearn run CONFIG [key=value ...] [--out DIR] [--debug]
    unlearn data CONFIG [key=value ...] [--out DIR] [--debug]
    unlearn eval CONFIG --original DIR --retrain DIR [--retrain DIR ...] [--model NAME=DIR ...] [--out DIR]
    unlearn sweep SWEEP.yaml [--out DIR] [--address RAY] [--cpus-per-task N]
    unlearn report RUN_DIR [--publish DIR] [--scaling RUN ...]
    unlearn sisa-check CONFIG [key=value ...] [--out DIR] [--debug]
    unlearn bench [--out DIR] [--quick RESULTS] [--smollm2 RESULTS] [--frontier RESULTS] [--eval-speed JSON] [--no-smollm2]

Bad configuration or input exits with code 2 and one line naming the file, key and choices;
any other error exits 1 with one line. `--debug` shows the traceback instead. Ctrl-C (SIGINT) or
SIGTERM stops cleanly: the stage being built is discarded, the finished ones are kept, and
rerunning the same command resumes (exit 130 or 143).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from unlearn.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `unlearn` console script."""
    parser = argparse.ArgumentParser(prog="unlearn", description="Can this data be removed from a trained model?")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run an experiment: corpus -> models -> evaluation -> report"),
                       ("frontier", "run an experiment with the removal frontier: every method at growing "
                                    "strength, judged at each point (frontier.enabled=true)"),
                       ("data", "generate (or load) the corpus and print a summary"),
                       ("sisa-check", "prove SISA's deletion exact: retrain it from scratch without the "
                                      "objecting users and compare every checkpoint")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config", help="experiment YAML, e.g. configs/experiments/quick.yaml")
        p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. finetune.lr=1e-3")
        p.add_argument("--out", help="output folder (default runs/<name>/ for run and sisa-check, "
                                     "runs/<name>/corpus-data for data)")
        p.add_argument("--debug", action="store_true", help="show tracebacks")
    p = sub.add_parser("eval", help="judge checkpoints trained elsewhere (an original, retrain models, unlearned "
                                    "models) with the same measurements, attacks, verdicts and report")
    p.add_argument("config", help="experiment YAML: the corpus (data.source, also tofu:DIR or muse:DIR), the "
                                  "measurement and verdict settings")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    p.add_argument("--original", required=True, metavar="DIR", help="the model trained on all the data")
    p.add_argument("--retrain", action="append", default=[], metavar="DIR",
                   help="a model trained without the forget data (repeat: the reference needs two or more)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="an unlearned model to judge (repeat)")
    p.add_argument("--control", metavar="DIR", help="one more retrain model, judged like a method (the null control)")
    p.add_argument("--base", metavar="DIR", help="the model before fine-tuning (for the metrics relative to it)")
    p.add_argument("--out", help="output folder (default runs/<name>-eval/)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p = sub.add_parser("sweep", help="run a grid of experiments (seeds, forget fractions, models, methods, ...) on "
                                     "Ray, every run's stages in one shared cache, and tabulate them together")
    p.add_argument("sweep_file", help="sweep YAML: config, overrides, grid (e.g. configs/sweeps/smoke-grid.yaml)")
    p.add_argument("--out", help="sweep folder (default runs/<sweep name>/): runs/<point>/, stages/, summary.md")
    p.add_argument("--address", help="a running Ray cluster to use (e.g. HEAD:6379 or auto); default: an embedded "
                                     "Ray instance on this machine")
    p.add_argument("--cpus-per-task", type=int, metavar="N",
                   help="CPUs (and torch threads) per task; default all of this machine's (one task at a time here)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p = sub.add_parser("report", help="rebuild report.md, figures/ and tables/ from a run folder's results.json")
    p.add_argument("run_dir")
    p.add_argument("--publish", metavar="DIR", help="write results.json, README.md (the report), figures/ and "
                                                    "tables/ into DIR instead (e.g. experiments/quick)")
    p.add_argument("--scaling", nargs="+", default=[], metavar="RUN",
                   help="run folders of the same experiment at other data.forget_fraction values: copied into "
                        "scaling/ and tabulated beside this run (the scalability table)")
    p.add_argument("--debug", action="store_true")
    p = sub.add_parser("bench", help="measure speed against the machine's roof and cost against retraining")
    p.add_argument("--out", default="experiments/bench", help="where results.json and README.md go")
    p.add_argument("--quick", help="results.json of a quick run for the cost figures (default the published "
                                   "experiments/quick/results.json; `make run` writes runs/quick/results.json)")
    p.add_argument("--smollm2", default="experiments/smollm2/results.json", help="results.json of the flagship")
    p.add_argument("--frontier", default="experiments/quick/frontier/results.json",
                   help="results.json of the quick frontier run (its wall time)")
    p.add_argument("--eval-speed", default="experiments/bench/eval_speed.json",
                   help="scripts/eval_speed.py's record of one SmolLM2 evaluation against full-sequence scoring")
    p.add_argument("--no-smollm2", action="store_true", help="skip the pretrained model's live figures")
    p.add_argument("--debug", action="store_true")
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command in ("report", "bench", "sweep") or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:  # key=value overrides that came after an option
        args.overrides += extra
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as err:
        code, what = (143, "SIGTERM") if isinstance(err, Terminated) else (130, "SIGINT")
        print(f"stopped by {what}: the stage being built was discarded, finished stages are kept; rerun the "
              f"same command to resume", file=sys.stderr)
        return code
    except Exception as err:  # noqa: BLE001 — one line for users, traceback with --debug
        from unlearn.corpus import CorpusError
        from unlearn.pipeline import PipelineError

        if args.debug:
            raise
        if isinstance(err, (CorpusError, PipelineError)):
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"error: {type(err).__name__}: {err} (an internal error: rerun with --debug for the traceback "
              f"and report it)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the stage being built cleans up after itself."""


def _terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the cleanup must not be interrupted again
    raise Terminated()


def cmd_run(args) -> int:
    """Run the experiment and print the main table."""
    from unlearn.pipeline import run_experiment
    from unlearn.report import summary

    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.out or Path("runs") / cfg.name)
    results = run_experiment(cfg, run_dir, args.config, debug=args.debug, overrides=args.overrides)
    if results is not None and _is_main():
        print(summary(results))
        print(f"\n{run_dir / 'results.json'}  {run_dir / 'report.md'}  "
              f"({results['meta']['wall_s']:.0f} s, stages cached {results['meta']['stages']['cached']}, "
              f"built {results['meta']['stages']['built']})")
    return 0


def cmd_frontier(args) -> int:
    """`unlearn run CONFIG frontier.enabled=true`, into runs/<name>/ unless --out says otherwise."""
    args.overrides = [*args.overrides, "frontier.enabled=true"]
    return cmd_run(args)


def cmd_data(args) -> int:
    """Write the corpus for the config's first seed and print its summary."""
    from unlearn.corpus import build_corpus, save_corpus, summary

    from unlearn.outdir import check, claim

    cfg = load_config(args.config, args.overrides)
    out = Path(args.out or Path("runs") / cfg.name / "corpus-data")
    check(out, "corpus")  # before any work: a folder we did not write is never touched
    start = time.perf_counter()
    corpus = build_corpus(cfg.data, cfg.seeds[0])
    if not args.out:  # runs/<name>/corpus-data: runs/<name> is the run folder of `unlearn run`
        claim(Path("runs") / cfg.name, "run")
    save_corpus(corpus, out)
    print(summary(corpus))
    print(f"\nwritten to {out} in {time.perf_counter() - start:.1f} s (datasets.load_from_disk reads "
          f"{out}/texts and {out}/tables)")
    return 0


def cmd_eval(args) -> int:
    """Judge the given checkpoints and print the main table."""
    from unlearn.evalcmd import parse_models, run_eval
    from unlearn.report import summary

    cfg = load_config(args.config, args.overrides)
    if len(cfg.seeds) != 1:
        raise ConfigError(f"seeds: unlearn eval judges one set of checkpoints, drawn with one seed; set seeds=[S] "
                          f"(the config lists {list(cfg.seeds)})")
    models = parse_models(args.original, args.retrain, args.model, args.control, args.base)
    run_dir = Path(args.out or Path("runs") / f"{cfg.name}-eval")
    results = run_eval(cfg, run_dir, models, args.config, args.overrides, args.debug)
    if _is_main():
        print(summary(results))
        print(f"\n{run_dir / 'results.json'}  {run_dir / 'report.md'}")
    return 0


def cmd_report(args) -> int:
    """Rebuild the report from results.json (into the run folder, or a published folder)."""
    from unlearn.report import rebuild

    path = Path(args.run_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no results.json here; run `unlearn run CONFIG --out {args.run_dir}` first")
    publish = Path(args.publish) if args.publish else None
    if publish is not None and publish.is_dir() and any(publish.iterdir()) and not (publish / "results.json").is_file():
        raise ConfigError(f"{publish}: --publish names a non-empty folder that holds no published results.json; "
                          "nothing was written. Give a new or empty folder, or an earlier --publish folder")
    print(rebuild(Path(args.run_dir), publish, [Path(p) for p in args.scaling]))
    return 0


def cmd_sweep(args) -> int:
    """Run the grid on Ray; print each run's status and the sweep report's path. Exit 1 if a run failed."""
    from unlearn.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    if args.cpus_per_task is not None and args.cpus_per_task < 1:
        raise ConfigError(f"--cpus-per-task must be at least 1 (got {args.cpus_per_task})")
    out = Path(args.out or Path("runs") / sweep.name)
    record = run_sweep(sweep, out, args.address, args.cpus_per_task)
    for point in record["points"]:
        print(f"{point['name']:<40} {point['status']}" + (f": {point['message']}" if point["status"] != "ok" else ""))
    print(f"\n{out / 'summary.md'}  {out / 'tables' / 'sweep.csv'}  ({record['wall_s']:.0f} s, "
          f"{record['stages']['built']} stages built, {record['stages']['folders']} in the shared cache)")
    return 0 if all(p["status"] == "ok" for p in record["points"]) else 1


def cmd_sisa_check(args) -> int:
    """Exit 0 if every seed's SISA after deletion equals a SISA trained without the users."""
    from unlearn.exact.stage import check_sisa

    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.out or Path("runs") / cfg.name)
    checks = check_sisa(cfg, run_dir)
    if _is_main():
        for c in checks:
            if "message" in c:
                print(f"seed {c['seed']}: {c['message']}")
                continue
            verdict = "bit-identical" if c["identical"] else f"DIFFERENT ({', '.join(c['differing'][:5])})"
            print(f"seed {c['seed']}: {c['deleted']} vs {c['scratch']}: {c['checkpoints']} checkpoints "
                  f"{verdict}, max |difference| {c['max_abs_diff']:.3g}")
    return 0 if all(c["identical"] for c in checks) else 1


def cmd_bench(args) -> int:
    """Measure, print the table, write results.json and README.md; exit 0 even if a target fails
    (the table says which) so the figures are always written."""
    from unlearn.bench import run_bench, table, write

    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not (out / "results.json").is_file():
        raise ConfigError(f"{out}: --out names a non-empty folder that holds no earlier benchmark results.json; "
                          "nothing was written. Give a new or empty folder")
    quick = Path(args.quick) if args.quick else Path("experiments/quick/results.json")
    results = run_bench(quick, Path(args.smollm2), with_smollm2=not args.no_smollm2, frontier=Path(args.frontier),
                        eval_speed=Path(args.eval_speed))
    write(results, Path(args.out))
    print(table(results))
    print(f"\n{Path(args.out) / 'results.json'}  {Path(args.out) / 'README.md'}")
    return 0


def _is_main() -> bool:
    from unlearn.train import make_accelerator

    return make_accelerator().is_main_process


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "frontier": cmd_frontier, "eval": cmd_eval, "data": cmd_data, "report": cmd_report, "sisa-check": cmd_sisa_check, "bench": cmd_bench}

if __name__ == "__main__":
    sys.exit(main())
