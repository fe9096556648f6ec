"""The learning curve: how fast the experts' verdicts make calspot's flags right.

For each regime (long history, short history, subtle defects): simulate the nights,
ingest them once into a home (``calspot ingest``), then for each number of verdicts
per image type (0, 5, 10, 20, 50) start from a copy of that home, give verdicts from
the simulator's truth file to that many frames of every type of the *review nights*
(the first half of the test nights), chosen the way the Night page's "most to
learn" queue shows them, run ``calspot train`` (which scores every night again), and
measure the flags of ``calspot report`` on the *held-out nights* (the second half of
the test nights), which received no verdict.

Usage::

    python bench/learning_curve.py --workdir bench/out/learning
    python bench/learning_curve.py --regimes short --verdicts 0 20   # one regime, two points

The unit is one image extension; a file that cannot be read is one report row, and
counts for every extension the truth file lists for it. Targets: F1 >= 0.98 with 20
verdicts per type in every regime, and never below the F1 with no verdict.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import load_settings
from core.embed import expected_fingerprint
from core.review import Candidate, learning_order
from core.store import Store

TARGET_F1 = 0.98
TARGET_VERDICTS = 20
REVIEWER = "learning-curve"


@dataclass(frozen=True)
class Regime:
    """One set of simulated nights."""

    name: str
    history: int
    test_nights: int
    scale: float
    defect_rate: float
    severity: str
    seed: int

    def describe(self) -> str:
        return (
            f"{self.history} history + {self.test_nights} test nights, scale {self.scale}, "
            f"{100 * self.defect_rate:.0f} % defective, {self.severity} defects, seed {self.seed}"
        )


REGIMES = {
    "long": Regime("long history", 20, 10, 1.0, 0.4, "gross", 11),
    "short": Regime("short history", 3, 10, 0.25, 0.5, "gross", 12),
    "subtle": Regime("subtle defects", 20, 10, 1.0, 0.4, "subtle", 13),
}


def calspot(*args: str) -> str:
    """Run the command line as a user would; fail loudly if it fails."""
    done = subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"calspot {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def prepare(regime: Regime, workdir: Path, weights: str, reuse: bool = False) -> tuple[Path, Path]:
    """Simulated nights (written once per parameter set) and the home they are ingested into.

    The home is ingested anew unless ``reuse`` keeps one an earlier run ingested from
    the same nights (its scores must come from the detector being measured).
    """
    raw, home = workdir / "raw", workdir / "home"
    stamp = workdir / "PARAMETERS"
    wanted = f"{regime.describe()}\n"
    if not (stamp.is_file() and stamp.read_text() == wanted):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        calspot(
            "simulate",
            str(raw),
            "--nights",
            str(regime.history + regime.test_nights),
            "--test-nights",
            str(regime.test_nights),
            "--seed",
            str(regime.seed),
            "--scale",
            str(regime.scale),
            "--defect-rate",
            str(regime.defect_rate),
            "--severity",
            regime.severity,
        )
        stamp.write_text(wanted)
    elif reuse and (home / "calspot.sqlite").is_file():
        return raw, home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    (home / "calspot.toml").write_text(f'weights = "{weights}"\n')
    calspot("--home", str(home), "ingest", str(raw))
    return raw, home


def truth_of(raw: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The truth file by (absolute path, ext)."""
    with (raw / "truth.csv").open() as fh:
        return {(str((raw / r["path"]).resolve()), r["ext"]): r for r in csv.DictReader(fh)}


def choose_verdicts(store: Store, nights: list[str], per_type: int, fingerprint: str) -> list[dict]:
    """Up to ``per_type`` frames of every image type of the review nights, in the "most to learn" order."""
    rows = [r for night in nights for r in store.night_rows(night) if r["image_id"] is not None and r["score"] is not None]
    descriptors = store.descriptors([r["image_id"] for r in rows], fingerprint)
    by_type = defaultdict(list)
    for row in rows:
        by_type[row["image_type"]].append(row)
    chosen = []
    for type_rows in by_type.values():
        candidates = [
            Candidate(r["image_id"], r["score"], r["threshold"], descriptors.get(r["image_id"]), (r["image_type"], r["mode"]))
            for r in type_rows
        ]
        order = learning_order(candidates)
        by_id = {r["image_id"]: r for r in type_rows}
        chosen.extend(by_id[i] for i in order[:per_type])
    return chosen


def held_out_outcomes(home: Path, raw: Path, nights: list[str]) -> list[tuple[bool, bool, str]]:
    """(defective, flagged, image type) of every extension of the held-out nights, from ``calspot report``."""
    truth = truth_of(raw)
    report = {}
    for night in nights:
        for row in csv.DictReader(io.StringIO(calspot("--home", str(home), "report", "--night", night, "--format", "csv"))):
            report[(row["path"], row["ext"])] = row
    out = []
    for (path, ext), row in truth.items():
        if row["night"] not in nights:
            continue
        got = report.get((path, ext)) or report.get((path, ""))
        if got is None:
            raise SystemExit(f"no report row for {path} ext {ext}")
        out.append((bool(row["defect"]), got["flagged"] == "true", got["image_type"] or "unreadable"))
    return out


def rates(outcomes: list[tuple[bool, bool, str]]) -> dict[str, float]:
    tp = sum(d and f for d, f, _ in outcomes)
    fp = sum(f and not d for d, f, _ in outcomes)
    positives = sum(d for d, _, _ in outcomes)
    negatives = len(outcomes) - positives
    recall = tp / positives if positives else np.nan
    precision = tp / (tp + fp) if tp + fp else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"recall": recall, "precision": precision, "f1": f1, "false_flags": fp / negatives if negatives else np.nan, "n": len(outcomes)}


def point(regime: Regime, raw: Path, base: Path, workdir: Path, per_type: int) -> dict[str, float]:
    """Verdicts for ``per_type`` frames of every type, training, and the held-out flags."""
    home = workdir / f"home-{per_type}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home, ignore=shutil.ignore_patterns("*.backup-*"))
    settings = load_settings(home)
    store = Store.open(settings)
    nights = store.nights()
    test = nights[-regime.test_nights :]
    review, held_out = test[: len(test) // 2], test[len(test) // 2 :]
    truth = truth_of(raw)
    chosen = choose_verdicts(store, review, per_type, expected_fingerprint(settings)) if per_type else []
    for row in chosen:
        defect = truth[(row["path"], str(row["ext"]))]["defect"]
        store.add_label(row["path"], row["ext"], "reject" if defect else "accept", REVIEWER, defect)
    started = time.perf_counter()
    if chosen:
        calspot("--home", str(home), "train", "--by", REVIEWER)
    trained = time.perf_counter() - started
    result = rates(held_out_outcomes(home, raw, held_out))
    result.update(verdicts=len(chosen), rejected=sum(bool(truth[(r["path"], str(r["ext"]))]["defect"]) for r in chosen), train_s=trained)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES))
    parser.add_argument("--verdicts", type=int, nargs="+", default=[0, 5, 10, 20, 50], help="verdicts per image type")
    parser.add_argument("--scale", type=float, help="frame size of every regime (default: each regime's own)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/learning"))
    parser.add_argument("--weights", default=os.environ.get("CALSPOT_WEIGHTS", "auto"))
    parser.add_argument("--reuse-homes", action="store_true", help="keep the homes an earlier run ingested from the same nights")
    args = parser.parse_args()
    lines = [
        f"| {'regime':15} | verdicts/type | verdicts | rejected | recall | precision |   F1  | good flagged | train+rescore |",
        "|-----------------|---------------|----------|----------|--------|-----------|-------|--------------|---------------|",
    ]
    verdicts = []
    for key in args.regimes:
        regime = REGIMES[key]
        if args.scale is not None:
            regime = Regime(regime.name, regime.history, regime.test_nights, args.scale, regime.defect_rate, regime.severity, regime.seed)
        workdir = (args.workdir / key).resolve()
        started = time.perf_counter()
        raw, base = prepare(regime, workdir, args.weights, args.reuse_homes)
        print(f"{regime.name}: {regime.describe()} (simulated and ingested in {time.perf_counter() - started:.0f} s)", flush=True)
        f1s = {}
        for per_type in args.verdicts:
            r = point(regime, raw, base, workdir, per_type)
            f1s[per_type] = r["f1"]
            lines.append(
                f"| {regime.name:15} | {per_type:13d} | {r['verdicts']:8d} | {r['rejected']:8d} | {r['recall']:6.3f} | "
                f"{r['precision']:9.3f} | {r['f1']:5.3f} | {100 * r['false_flags']:11.2f}% | {r['train_s']:11.0f} s |"
            )
            print(lines[-1], flush=True)
        at_target = f1s.get(TARGET_VERDICTS)
        never_worse = all(f >= f1s[0] - 1e-9 for f in f1s.values()) if 0 in f1s else None
        verdicts.append((regime.name, at_target, never_worse))
    print(f"\nheld-out nights: the second half of each regime's test nights (no verdict on them); weights {args.weights}\n")
    print("\n".join(lines))
    print()
    for name, at_target, never_worse in verdicts:
        met = "met" if at_target is not None and at_target >= TARGET_F1 else "NOT met"
        print(
            f"{name}: F1 with {TARGET_VERDICTS} verdicts per type "
            f"{'-' if at_target is None else f'{at_target:.3f}'} (target >= {TARGET_F1}: {met}); "
            f"never worse than with 0 verdicts: {'-' if never_worse is None else never_worse}"
        )


if __name__ == "__main__":
    main()
