"""The ``calspot`` command line (also ``python -m core``).

Scripts outside the project rely on the commands and the report's columns (see the
CLI contract in the design): extend, never break. Exit status 0 when the command did
its job, even if some files were unreadable (they are reported); non-zero only when
the command itself could not run, with a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import logging
import os
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .cli_format import (
    format_clusters_csv,
    format_clusters_table,
    format_csv,
    format_json,
    format_table,
    format_type_identification,
)
from .cli_progress import ProgressBars
from .cli_reviewers import add_reviewers_parser

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

CLUSTER_METHODS = ("hierarchical", "kmeans", "spectral")  # core.cluster.METHODS, without importing scikit-learn
EVALUATIONS = ("verdicts", "types", "clusters")
DEMO_HOME = Path.home() / ".calspot-demo"


class CommandError(Exception):
    """The command cannot do its job; the message is shown as one line."""


def _night(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a night: {text!r} (use YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="calspot",
        description="Morning spot check of calibration frames: ingest, describe, score, flag, review.",
    )
    parser.add_argument("--home", type=Path, help="calspot home (settings and store); default $CALSPOT_HOME or ~/.calspot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", help="describe, score and flag raw FITS files (files or folders, recursive)")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--workers", type=int, help="processes reading files (default: one per CPU)")
    ingest.add_argument("--batch-size", type=int, help="images per network call (default 16)")
    ingest.add_argument("--weights", help="auto, imagenet, random, or a Keras weights file")

    backfill = sub.add_parser("backfill", help="ingest an archive on a Dask cluster (a local one by default); resumable")
    backfill.add_argument("paths", nargs="+", metavar="PATH")
    backfill.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    backfill.add_argument("--workers", type=int, help="processes of the local cluster (default: one per CPU)")
    backfill.add_argument("--batch-size", type=int, help="images per network call on each worker (default 16)")
    backfill.add_argument("--weights", help="auto, imagenet, random, or a Keras weights file")

    report = sub.add_parser("report", help="one row per image extension of a night, flags and reasons")
    report.add_argument("--night", type=_night, help="YYYY-MM-DD (default: the most recent night in the store)")
    report.add_argument("--format", choices=("csv", "json", "table"), default="table")
    report.add_argument("--out", type=Path, help="write to this file instead of standard output")
    report.add_argument("--flagged", action="store_true", help="only flagged rows")

    label = sub.add_parser("label", help="record an expert's verdict on an image extension (or many, from a CSV file)")
    label.add_argument("path", type=Path, nargs="?", metavar="PATH")
    label.add_argument("--ext", type=int, help="image extension; leave out only for a file that could not be read")
    label.add_argument("--verdict", choices=("accept", "reject"))
    label.add_argument("--by", metavar="NAME", help="the reviewer (with --from: for rows without a reviewer column)")
    label.add_argument("--note", default="", metavar="TEXT")
    label.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="CSV",
        help="many verdicts at once: a CSV file with columns path, ext, verdict and optionally reviewer, note",
    )

    certify = sub.add_parser("certify", help='say that an image type and mode is "new normal" from a night on (after an intervention)')
    certify.add_argument("--type", required=True, dest="image_type", metavar="T", help="image type, as the report names it")
    certify.add_argument("--mode", metavar="M", help="its mode, as the report names it (may be left out when the type has one)")
    certify.add_argument("--night", type=_night, required=True, help="YYYY-MM-DD: the first night of the new normal")
    certify.add_argument("--by", required=True, metavar="NAME", help="who certifies the change")
    certify.add_argument("--note", default="", metavar="TEXT", help="what changed (a new lamp, a CCD warm-up ...)")

    score = sub.add_parser("score", help="score stored nights again (after new verdicts or a detector change)")
    score.add_argument("--night", type=_night, action="append", help="YYYY-MM-DD (repeatable; default: every night)")

    sub.add_parser("nights", help="list the nights in the store with their counts")

    clusters = sub.add_parser("clusters", help="cluster frames by their pixels, name the clusters by their headers")
    which = clusters.add_mutually_exclusive_group(required=True)
    which.add_argument("--night", type=_night, help="YYYY-MM-DD: the frames of one night")
    which.add_argument("--all", action="store_true", help="every frame in the store")
    clusters.add_argument("--method", choices=CLUSTER_METHODS, default="hierarchical")
    clusters.add_argument("--format", choices=("csv", "table"), default="table")
    clusters.add_argument("--out", type=Path, help="write to this file instead of standard output")

    train = sub.add_parser("train", help="retrain from the verdicts; later reports show the new model's flags")
    train.add_argument("--by", metavar="NAME", help="who trains (default: the login name)")
    train.add_argument("--no-rescore", action="store_true", help="store the models without scoring the stored nights again")

    models = sub.add_parser("models", help="list the trained models; choose the active one (rolling back is activating an older one)")
    models.add_argument("--activate", metavar="VERSION", help="make this version the active model of its kind, and score the nights again")
    models.add_argument("--by", metavar="NAME", help="who activates it (default: the login name)")

    add_reviewers_parser(sub)

    export = sub.add_parser("export", help="write every verdict to a file (a backup; keyed by file content, so it survives moves)")
    export.add_argument("what", choices=("labels",))
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--out", type=Path, help="write to this file instead of standard output")
    load = sub.add_parser("import", help="add the verdicts of a file 'export labels' wrote (importing it again adds nothing)")
    load.add_argument("what", choices=("labels",))
    load.add_argument("file", type=Path, metavar="FILE")

    evaluate = sub.add_parser("evaluate", help="the proof of concept's tables from what is stored")
    evaluate.add_argument(
        "what",
        nargs="?",
        choices=EVALUATIONS,
        help="verdicts: bad-frame identification per type (cross-validated on the verdicts); types: image-type "
        "classification accuracy of the trained network; clusters: image-type identification by clustering; default: all three",
    )
    evaluate.add_argument("--night", type=_night, help="only this night (default: every frame in the store)")
    evaluate.add_argument("--method", choices=CLUSTER_METHODS, default="hierarchical")

    sub.add_parser("upgrade", help="bring the store to this calspot's schema (a SQLite file is backed up first)")

    migrate = sub.add_parser("migrate-store", help="copy every row of this home's store into an empty database (e.g. a PostgreSQL server)")
    migrate.add_argument("--to", required=True, metavar="URL", help='the empty store, e.g. "postgresql://calspot@dbhost/calspot"')

    simulate = sub.add_parser("simulate", help="write simulated UVES-like raw calibrations with injected defects")
    _simulation_options(simulate)
    simulate.add_argument("outdir", type=Path, metavar="OUTDIR")

    demo = sub.add_parser("demo", help="simulated nights into a demo home, ingested, then the dashboard")
    _simulation_options(demo, nights=12, scale=0.25)
    demo.add_argument("--no-serve", action="store_true", help="prepare the demo home but do not start the dashboard")
    demo.add_argument("--port", type=int, default=8501)
    return parser


def _simulation_options(parser: argparse.ArgumentParser, nights: int = 12, scale: float = 1.0) -> None:
    parser.add_argument("--nights", type=int, default=nights, help=f"nights to simulate (default {nights})")
    parser.add_argument("--test-nights", type=int, default=2, help="last nights that get injected defects (default 2)")
    parser.add_argument("--start", type=_night, default="2025-01-01", help="first night (default 2025-01-01)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=scale, help=f"frame size relative to UVES (default {scale})")
    parser.add_argument("--compress", choices=("none", "Z", "gz"), default="none", help="write .fits, .fits.Z or .fits.gz")
    parser.add_argument("--defect-rate", type=float, default=0.4, help="share of test-night frames with a defect")
    parser.add_argument("--intervention-night", type=int, help="night index after which orders and lamp flux jump")
    parser.add_argument(
        "--severity",
        choices=("gross", "subtle"),
        default="gross",
        help="gross defects (default), or subtle ones: a few times the natural night-to-night scatter",
    )


# commands ---------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from .pipeline import ingest

    missing = [p for p in args.paths if not Path(p).exists()]
    if len(missing) == len(args.paths):
        raise CommandError(f"nothing to ingest: none of the given paths exists ({', '.join(map(str, missing))})")
    settings = _settings(args, workers=args.workers, batch_size=args.batch_size, weights=args.weights)
    with ProgressBars() as progress:
        result = ingest(args.paths, settings, progress=progress)
    _print_ingest(result)
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    from .backfill import backfill

    # Dask's scheduler and nannies log every start and stop at INFO (its own configuration, read on import).
    logging.getLogger("distributed").setLevel(logging.INFO if args.verbose else logging.WARNING)

    missing = [p for p in args.paths if not Path(p).exists()]
    if len(missing) == len(args.paths):
        raise CommandError(f"nothing to backfill: none of the given paths exists ({', '.join(map(str, missing))})")
    settings = _settings(args, workers=args.workers, batch_size=args.batch_size, weights=args.weights)
    with ProgressBars() as progress:
        result = backfill(args.paths, settings, scheduler=args.scheduler, workers=args.workers, progress=progress)
    _print_ingest(result)
    return EXIT_OK


def _print_ingest(result: Any) -> None:
    """What an ingest or a backfill did: a line per file with a problem on stderr, the counts on stdout."""
    if result.warning:
        _warn(f"WARNING: {result.warning}")
    for path in result.missing:
        _warn(f"not found: {path}")
    for path, error in result.unreadable:
        _warn(f"unreadable: {path}: {error}")
    for path, why in result.undated:
        _warn(f"undated: {path}: {why}")
    for path, why in result.duplicates:
        _warn(f"duplicate: {path}: {why} (flagged; it never stands for normal)")
    others = "".join(f", {len(found)} {what}" for what, found in (("undated", result.undated), ("duplicates", result.duplicates)) if found)
    print(
        f"{result.files_found} files found: {result.files_new} new, {result.files_known} already known; "
        f"{result.images} images described, {len(result.unreadable)} unreadable{others}; "
        f"nights scored: {', '.join(result.nights) or 'none'}; {result.flagged} flagged"
    )


def cmd_report(args: argparse.Namespace) -> int:
    from .report import night_report

    store = _short_store(args)
    nights = store.nights()
    if not nights:
        raise CommandError(f"the store has no nights yet ({_settings(args).store_url}); run 'calspot ingest' first")
    night = args.night or nights[-1]
    rows = night_report(store, night)
    if args.flagged:
        rows = [r for r in rows if r["flagged"]]
    if not rows:
        _warn(f"no images for night {night}; nights in the store: {nights[0]} to {nights[-1]}")
    text = {"csv": format_csv, "json": format_json, "table": format_table}[args.format](rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_label(args: argparse.Namespace) -> int:
    if args.from_file is not None:
        return _label_from(args)
    if args.path is None or args.verdict is None or not args.by:
        raise CommandError("label needs PATH, --verdict and --by (or --from CSV)")
    store = _short_store(args)
    by = _acting(args, store, args.by, "verdict")
    try:
        label_id = store.add_label(args.path, args.ext, args.verdict, by, args.note)
    except (KeyError, ValueError) as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    where = "" if args.ext is None else f" ext {args.ext}"
    print(f"label {label_id}: {args.verdict} {args.path.absolute()}{where} by {by}")
    return EXIT_OK


def _label_from(args: argparse.Namespace) -> int:
    """Many verdicts from a CSV file in one transaction; each refused row is named with its line."""
    if args.path is not None:
        raise CommandError("give either PATH or --from CSV, not both")
    store = _short_store(args)
    with args.from_file.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"path", "verdict"} - set(rows[0] if rows else {})
    if missing:
        raise CommandError(
            f"{args.from_file} needs the columns path, ext, verdict (and reviewer, note); it lacks {', '.join(sorted(missing))}"
        )
    verdicts = []
    for line, row in enumerate(rows, start=2):
        ext = (row.get("ext") or "").strip()
        if ext and not ext.isdigit():
            raise CommandError(f"{args.from_file}, line {line}: ext {ext!r} is not an extension number; nothing stored")
        reviewer = _acting(args, store, (row.get("reviewer") or "").strip() or args.by or "", "verdict")
        verdicts.append((row["path"], int(ext) if ext else None, (row["verdict"] or "").strip(), reviewer, row.get("note") or ""))
    outcomes = store.add_labels(verdicts)
    refused = [(line, outcome) for line, outcome in enumerate(outcomes, start=2) if isinstance(outcome, str)]
    for line, why in refused:
        _warn(f"{args.from_file}, line {line}: not stored: {why.strip(chr(39) + chr(34))}")
    print(f"{len(outcomes) - len(refused)} verdicts stored, {len(refused)} refused")
    return EXIT_FAILED if refused else EXIT_OK


def cmd_certify(args: argparse.Namespace) -> int:
    from .pipeline import rescore

    store = _store(args)
    modes = sorted({t["mode"] for t in store.image_types() if t["image_type"] == args.image_type})
    if not modes:
        known = sorted({t["image_type"] for t in store.image_types()})
        raise CommandError(f"no frame of type {args.image_type!r} in the store; its types: {', '.join(known) or 'none yet'}")
    mode = args.mode
    if mode is None:
        if len(modes) > 1:
            raise CommandError(f"{args.image_type} has {len(modes)} modes: say which with --mode ({'; '.join(modes)})")
        mode = modes[0]
    if mode not in modes:
        raise CommandError(f"{args.image_type} has no mode {mode!r}; its modes: {'; '.join(modes)}")
    by = _acting(args, store, args.by, "certify")
    try:
        certification = store.certify(args.image_type, mode, args.night, by, args.note)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"certification {certification}: {args.image_type} mode {mode or '(none)'} is new normal from {args.night} on, by {by}")
    later = [night for night in store.nights() if night >= args.night]
    if later:
        with ProgressBars() as progress:
            flagged = rescore(_settings(args), later, store=store, progress=progress)
        print(f"rescored {len(flagged)} night{'s' if len(flagged) != 1 else ''} from {args.night}: {sum(flagged.values())} flagged")
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from .pipeline import rescore

    with ProgressBars() as progress:
        flagged = rescore(_settings(args), args.night, progress=progress)
    for night, count in flagged.items():
        print(f"{night}: {count} flagged")
    return EXIT_OK


def cmd_nights(args: argparse.Namespace) -> int:
    from .report import night_summaries

    for row in night_summaries(_short_store(args)):
        print(f"{row['night']}  {row['images']:5d} images  {row['flagged']:4d} flagged  {row['unreadable']:3d} unreadable")
    return EXIT_OK


def cmd_clusters(args: argparse.Namespace) -> int:
    from .cluster import cluster_store

    store = _store(args)
    nights = _stored_nights(args, store)
    clustering = cluster_store(store, _settings(args), night=None if args.all else args.night, method=args.method)
    for note in clustering.notes:
        _warn(note)
    if not clustering.frames:
        _warn(f"no images for night {args.night}; nights in the store: {nights[0]} to {nights[-1]}")
    text = format_clusters_csv(clustering.frames) if args.format == "csv" else format_clusters_table(clustering)
    _write_text(text, args.out)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .model_tables import describe_model
    from .train import train

    store = _store(args)
    _stored_nights(args, store)
    by = _acting(args, store, args.by or getpass.getuser(), "train")
    with ProgressBars() as progress:
        result = train(store, _settings(args), by, progress=progress, rescore=not args.no_rescore)
    for note in result.notes:
        _warn(note)
    for model in result.models:
        print(f"trained {model.version} (active): {describe_model(model)}")
    if result.rescored:
        print(f"rescored {len(result.rescored)} nights with the new models: {sum(result.rescored.values())} flagged")
    return EXIT_OK if result.models else EXIT_FAILED


def cmd_models(args: argparse.Namespace) -> int:
    from .model_tables import format_models

    store = _store(args)
    if args.activate:
        from .pipeline import rescore

        _acting(args, store, args.by or getpass.getuser(), "activate")
        try:
            model = store.activate_model(args.activate)
        except KeyError as exc:
            raise CommandError(str(exc).strip("'\"")) from None
        print(f"{model.version} is now the active {model.kind} model")
        if store.nights():
            with ProgressBars() as progress:
                flagged = rescore(_settings(args), store=store, progress=progress)
            print(f"rescored {len(flagged)} nights with it: {sum(flagged.values())} flagged")
    sys.stdout.write(format_models(store.models()))
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    store = _store(args)
    _stored_nights(args, store)
    if args.what in (None, "verdicts"):
        from .model_tables import format_bad_frames
        from .train import evaluate_verdicts

        sys.stdout.write(format_bad_frames(evaluate_verdicts(store)))
    if args.what in (None, "types"):
        from .model_tables import format_type_accuracy

        sys.stdout.write(("\n" if args.what is None else "") + format_type_accuracy(store.active_model("image-types")))
    if args.what in (None, "clusters"):
        if args.what is None:
            sys.stdout.write("\n")
        _evaluate_clusters(args, store)
    return EXIT_OK


def _evaluate_clusters(args: argparse.Namespace, store) -> None:
    from .cluster import cluster_store, type_identification

    clustering = cluster_store(store, _settings(args), night=args.night, method=args.method)
    for note in clustering.notes:
        _warn(note)
    if not any(f.cluster is not None for f in clustering.frames):
        where = f"night {args.night}" if args.night else "the store"
        raise CommandError(f"nothing to evaluate: {where} has no images with quality numbers")
    sys.stdout.write(format_type_identification(type_identification(clustering)))


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .store import upgrade_database

    print(upgrade_database(_settings(args).store_url).describe())
    return EXIT_OK


def cmd_migrate_store(args: argparse.Namespace) -> int:
    from .store import copy_store

    settings = _settings(args)
    with ProgressBars() as progress:
        transfer = copy_store(settings.store_url, args.to, progress=progress)
    for line in transfer.describe():
        print(line)
    if not transfer.complete:
        return EXIT_FAILED
    from sqlalchemy.engine import make_url

    shown = make_url(args.to).render_as_string(hide_password=True)  # a password typed on the command line is not echoed
    print(f'to use it, set database_url = "{shown}" in {settings.home / "calspot.toml"} (or CALSPOT_DATABASE_URL)')
    return EXIT_OK


def cmd_reviewers(args: argparse.Namespace) -> int:
    from .cli_reviewers import run_reviewers

    try:
        return run_reviewers(args, _store(args))
    except KeyError as exc:
        raise CommandError(str(exc).strip("'\"")) from None


def cmd_export(args: argparse.Namespace) -> int:
    from .verdict_files import format_verdicts

    records = _store(args).verdict_records()
    _write_text(format_verdicts(records, args.format), args.out)
    if args.out:
        print(f"{len(records)} verdicts written to {args.out}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from .verdict_files import read_verdicts

    done = _store(args).import_verdicts(read_verdicts(args.file))
    for missing in done.missing:
        _warn(f"not imported: no frame with the content of {missing} in this store (ingest its file first)")
    for superseded in done.superseded:
        _warn(f"not imported: {superseded} has a newer verdict in this store")
    print(
        f"{done.added} verdicts added, {done.known} already there, {len(done.missing)} without their frame here, "
        f"{len(done.superseded)} older than a verdict here"
    )
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from .synthetic import simulate_nights

    with ProgressBars() as progress:
        truth = simulate_nights(
            args.outdir,
            nights=args.nights,
            test_nights=args.test_nights,
            start=args.start,
            seed=args.seed,
            scale=args.scale,
            compress=args.compress,
            defect_rate=args.defect_rate,
            intervention_night=args.intervention_night,
            severity=args.severity,
            progress=lambda done, total: progress("simulate", done, total),
        )
    print(f"simulated {args.nights} nights into {args.outdir} (truth: {truth})")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    home = args.home or Path(os.environ.get("CALSPOT_HOME", DEMO_HOME))
    data = home / "raw"
    args.home = home
    if not (data / "truth.csv").is_file():
        args.outdir = data
        cmd_simulate(args)
    args.paths, args.workers, args.batch_size, args.weights = [data], None, None, None
    cmd_ingest(args)
    if args.no_serve:
        return EXIT_OK
    root = Path(__file__).resolve().parent.parent
    print(f"dashboard: http://localhost:{args.port}  (home {home})")
    env = {**os.environ, "CALSPOT_HOME": str(home)}
    command = [sys.executable, "-m", "streamlit", "run", str(root / "dashboard" / "app.py"), "--server.port", str(args.port)]
    # Streamlit reads .streamlit/config.toml from the working directory.
    return subprocess.call(command, env=env, cwd=root)


COMMANDS = {
    "ingest": cmd_ingest,
    "backfill": cmd_backfill,
    "report": cmd_report,
    "label": cmd_label,
    "certify": cmd_certify,
    "score": cmd_score,
    "nights": cmd_nights,
    "clusters": cmd_clusters,
    "train": cmd_train,
    "models": cmd_models,
    "evaluate": cmd_evaluate,
    "upgrade": cmd_upgrade,
    "migrate-store": cmd_migrate_store,
    "reviewers": cmd_reviewers,
    "export": cmd_export,
    "import": cmd_import,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


# plumbing ---------------------------------------------------------------------------


def _settings(args: argparse.Namespace, **overrides: Any):
    from .config import load_settings

    return load_settings(args.home, **overrides)


def _store(args: argparse.Namespace):
    from .store import Store

    return _closed_at_end(args, Store.open(_settings(args)))


def _short_store(args: argparse.Namespace):
    """The store for ``nights``, ``report`` and ``label``: opened without SQLAlchemy when it is at this calspot's schema.

    Scripts call these once per frame; a new or older store goes through
    :class:`core.store.Store`, which creates or upgrades it.
    """
    from .store import DirectStore

    direct = DirectStore.open(_settings(args).store_url)
    return _closed_at_end(args, direct) if direct is not None else _store(args)


def _closed_at_end(args: argparse.Namespace, store):
    """The store, to be closed by :func:`main` when the command ends (it may run in a process that goes on)."""
    args.opened_stores.append(store)
    return store


def _acting(args: argparse.Namespace, store, name: str, action: str) -> str:
    """The name an action is recorded under; with reviewer accounts on, it must be an account allowed to."""
    from .accounts import authorised_name

    auth = _settings(args).auth
    return authorised_name(auth, name, store.reviewer(name) if auth != "none" else None, action)


def _stored_nights(args: argparse.Namespace, store) -> list[str]:
    nights = store.nights()
    if not nights:
        raise CommandError(f"the store has no nights yet ({_settings(args).store_url}); run 'calspot ingest' first")
    return nights


def _write_text(text: str, out: Path | None) -> None:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    else:
        sys.stdout.write(text)


def _lost_database(exc: BaseException) -> str | None:
    """One line for a database that stopped answering (a server stopped, a network cut), else None.

    The error is SQLAlchemy's, or the driver's own where the command went without SQLAlchemy.
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    drivers = [sqlite3.OperationalError]
    if "psycopg" in sys.modules:
        drivers.append(sys.modules["psycopg"].OperationalError)
    if isinstance(exc, tuple(drivers)):
        reason = str(exc).strip().splitlines()[0]
    elif isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    else:
        return None
    if "disk" in reason or "full" in reason:
        return f"the store could not be written ({reason}): is its disk full? What was complete is stored; free space and run it again"
    return f"the store stopped answering ({reason}); what was complete is stored: run the same command again once it is back"


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .store import StoreError

    args.opened_stores = []
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _warn("interrupted: what was complete is stored; run the same command again to carry on")
        return EXIT_INTERRUPTED
    except (CommandError, StoreError, ValueError, OSError) as exc:
        if args.verbose:
            traceback.print_exc()
        _warn(f"calspot {args.command}: {exc}")
        return EXIT_FAILED
    except Exception as exc:  # a bug of calspot's: one line for the user, the details with -v
        if args.verbose:
            traceback.print_exc()
        lost = _lost_database(exc)
        if lost:
            _warn(f"calspot {args.command}: {lost}")
        else:
            _warn(f"calspot {args.command}: internal error ({type(exc).__name__}: {exc}); run with -v for the details")
        return EXIT_FAILED
    finally:
        for store in args.opened_stores:
            store.close()


def run() -> None:
    """The ``calspot`` program: :func:`main`, then out of the process (callers in Python use :func:`main`).

    Once TensorFlow is loaded, the interpreter's teardown takes over a second after
    the command's work is stored and said (TensorFlow's threads and graphs are freed
    one by one): the logs and streams are flushed and the process leaves without it.
    """
    status = main()
    if "tensorflow" not in sys.modules:
        sys.exit(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (``| head``) or a closed stream
            continue
    os._exit(status)


if __name__ == "__main__":
    run()
