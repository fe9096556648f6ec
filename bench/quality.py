"""Detection quality on simulated nights: does calspot catch every defect family without false flags?

For each seed: simulate full-size UVES-like nights (history nights all good, test nights
with about 40 % defective frames and every defect family), run the real command line
(``calspot ingest`` into a fresh home, ``calspot report --format csv`` for each test
night), and compare the report with the simulator's truth file. No labels are used.

Printed per image type and per defect family: recall, precision, F1, AUROC of the
score, and the false-flag rate on good frames; then the averages, in the shape of the
proof of concept's table (Image type | Recall | Precision | F1).

Usage::

    python bench/quality.py --seeds 1 2 --history 20 --test-nights 6 --workdir bench/out/quality

The unit is one image extension. A file that cannot be read is one report row; it
counts for every extension the truth file lists for it.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

TARGETS = {"macro F1": 0.95, "precision": 0.95, "family recall": 0.95, "false-flag rate": 0.02}


@dataclass
class Outcome:
    """One image extension: what the truth says and what calspot said."""

    image_type: str
    defect: str
    flagged: bool
    score: float


def calspot(*args: str) -> str:
    """Run the command line as a user would; fail loudly if it fails."""
    done = subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"calspot {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def simulate(raw: Path, seed: int, history: int, test_nights: int, scale: float, defect_rate: float, severity: str) -> None:
    """Simulated nights, written once per parameter set (kept between benchmark runs)."""
    stamp = raw / "PARAMETERS"
    wanted = f"seed={seed} history={history} test={test_nights} scale={scale} rate={defect_rate} severity={severity}\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    calspot(
        "simulate",
        str(raw),
        "--nights",
        str(history + test_nights),
        "--test-nights",
        str(test_nights),
        "--seed",
        str(seed),
        "--scale",
        str(scale),
        "--severity",
        severity,
        "--defect-rate",
        str(defect_rate),
    )
    stamp.write_text(wanted)


def outcomes(raw: Path, home: Path, history: int) -> list[Outcome]:
    """Join the report of every test night (the nights after the history) with the truth file."""
    with (raw / "truth.csv").open() as fh:
        truth = list(csv.DictReader(fh))
    test_nights = sorted({r["night"] for r in truth})[history:]
    report = {}
    for night in test_nights:
        for row in csv.DictReader(io.StringIO(calspot("--home", str(home), "report", "--night", night, "--format", "csv"))):
            report[(row["path"], row["ext"])] = row
    results = []
    for row in truth:
        if row["night"] not in test_nights:
            continue
        path = str((raw / row["path"]).resolve())
        got = report.get((path, row["ext"])) or report.get((path, ""))
        if got is None:
            raise SystemExit(f"no report row for {path} ext {row['ext']}")
        image_type = got["image_type"] or f"UVES_{row['arm']}_{row['dpr_type'].split(',')[-1]}_ext{row['ext']}"
        score = float(got["score"]) if got["score"] else (np.inf if got["flagged"] == "true" else 0.0)
        results.append(Outcome(image_type, row["defect"], got["flagged"] == "true", score))
    return results


def rates(positives: list[Outcome], negatives: list[Outcome]) -> dict[str, float]:
    """Recall, precision, F1, AUROC and false-flag rate of flags on positives against negatives."""
    tp = sum(o.flagged for o in positives)
    fp = sum(o.flagged for o in negatives)
    recall = tp / len(positives) if positives else np.nan
    precision = tp / (tp + fp) if tp + fp else (1.0 if positives else np.nan)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    scores = np.array([o.score for o in positives + negatives], dtype=float)
    finite = np.nan_to_num(scores, posinf=np.nanmax(scores[np.isfinite(scores)], initial=0) * 10 + 1e6)
    labels = [1] * len(positives) + [0] * len(negatives)
    auroc = roc_auc_score(labels, finite) if positives and negatives else np.nan
    return {
        "n": len(positives),
        "good": len(negatives),
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "auroc": auroc,
        "false_flags": fp / len(negatives) if negatives else np.nan,
    }


def table(title: str, rows: dict[str, dict[str, float]]) -> str:
    lines = [
        f"\n{title}",
        f"| {'':34} | {'n':>4} | {'good':>4} | Recall | Precision |   F1  | AUROC | false flags |",
        "|" + "-" * 36 + "|------|------|--------|-----------|-------|-------|-------------|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name:34} | {r['n']:4d} | {r['good']:4d} | {r['recall']:6.3f} | {r['precision']:9.3f} | {r['f1']:5.3f} | "
            f"{r['auroc']:5.3f} | {100 * r['false_flags']:10.2f}% |"
        )
    return "\n".join(lines)


def evaluate(results: list[Outcome]) -> tuple[dict, dict, dict[str, float]]:
    """Per image type, per defect family, and the averages."""
    by_type = defaultdict(list)
    for o in results:
        by_type[o.image_type].append(o)
    per_type = {t: rates([o for o in os_ if o.defect], [o for o in os_ if not o.defect]) for t, os_ in sorted(by_type.items())}
    families = sorted({o.defect for o in results if o.defect})
    per_family = {}
    for family in families:
        positives = [o for o in results if o.defect == family]
        types = {o.image_type for o in positives}
        per_family[family] = rates(positives, [o for o in results if not o.defect and o.image_type in types])
    overall = rates([o for o in results if o.defect], [o for o in results if not o.defect])
    summary = {
        "macro recall (types)": float(np.nanmean([r["recall"] for r in per_type.values()])),
        "macro precision (types)": float(np.nanmean([r["precision"] for r in per_type.values()])),
        "macro F1 (types)": float(np.nanmean([r["f1"] for r in per_type.values()])),
        "overall recall": overall["recall"],
        "overall precision": overall["precision"],
        "overall F1": overall["f1"],
        "overall AUROC": overall["auroc"],
        "lowest family recall": float(min(r["recall"] for r in per_family.values())),
        "false-flag rate on good frames": overall["false_flags"],
    }
    return per_type, per_family, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--test-nights", type=int, default=6)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--defect-rate", type=float, default=0.4)
    parser.add_argument("--severity", choices=("gross", "subtle"), default="gross", help="the simulator's defects")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/quality"))
    parser.add_argument("--weights", default=os.environ.get("CALSPOT_WEIGHTS", "auto"))
    args = parser.parse_args()
    verdicts = []
    for seed in args.seeds:
        raw = (args.workdir / f"seed{seed}" / "raw").resolve()
        home = (args.workdir / f"seed{seed}" / "home").resolve()
        started = time.perf_counter()
        simulate(raw, seed, args.history, args.test_nights, args.scale, args.defect_rate, args.severity)
        simulated = time.perf_counter()
        if home.exists():
            subprocess.run(["rm", "-rf", str(home)], check=True)
        calspot("--home", str(home), "ingest", str(raw), "--weights", args.weights)
        ingested = time.perf_counter()
        per_type, per_family, summary = evaluate(outcomes(raw, home, args.history))
        print(
            f"\n=== seed {seed}: {args.history} history + {args.test_nights} test nights, scale {args.scale}, {args.severity} defects "
            f"(simulate {simulated - started:.0f} s, ingest {ingested - simulated:.0f} s) ==="
        )
        print(table("Per image type (test nights)", per_type))
        print(table("Per defect family (against good frames of the same types)", per_family))
        print("\nAverages")
        print("| Image type | Recall | Precision | F1 |\n|---|---|---|---|")
        print(
            f"| average over {len(per_type)} types | {summary['macro recall (types)']:.3f} | "
            f"{summary['macro precision (types)']:.3f} | {summary['macro F1 (types)']:.3f} |"
        )
        print("| proof of concept (UVES, 11 types) | 0.95 | 0.70 | 0.80 |")
        for name, value in summary.items():
            print(f"  {name:34} {value:.4f}")
        verdicts.append(
            summary["macro F1 (types)"] >= TARGETS["macro F1"]
            and summary["overall precision"] >= TARGETS["precision"]
            and summary["lowest family recall"] >= TARGETS["family recall"]
            and summary["false-flag rate on good frames"] <= TARGETS["false-flag rate"]
        )
        print(
            f"  targets (macro F1 >= 0.95, precision >= 0.95, every family recall >= 0.95, <= 2 % good flagged): "
            f"{'met' if verdicts[-1] else 'NOT met'}"
        )
    print(f"\nall seeds meet the targets: {all(verdicts)}")


if __name__ == "__main__":
    main()
