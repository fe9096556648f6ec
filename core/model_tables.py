"""The tables of trained models as the command line prints them: model list, bad-frame table, type accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .store import StoredModel


def _number(value: float | None, width: int, digits: int = 3) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def format_models(models: Sequence[StoredModel]) -> str:
    """One line per trained model, newest first, the active ones marked."""
    if not models:
        return "no trained model yet: every flag comes from the unsupervised thresholds (run calspot train)\n"
    lines = [f"{'':1} {'version':18}  {'trained (UTC)':16}  {'by':12}  what it learnt from and how well it does"]
    for m in models:
        mark = "*" if m.active else " "
        lines.append(f"{mark} {m.version:18}  {m.created_at:%Y-%m-%d %H:%M}  {m.trained_by[:12]:12}  {describe_model(m)}")
    lines.append("* active (calspot models --activate VERSION chooses another; activating an older one rolls back)")
    return "\n".join(lines) + "\n"


def describe_model(model: StoredModel) -> str:
    """What a model learnt from and its headline metric, in one phrase."""
    c, m = model.counts, model.metrics
    if model.kind == "bad-frames":
        trained, unsupervised = m.get("trained", {}), m.get("unsupervised", {})
        f1 = trained.get("f1")
        before = unsupervised.get("f1")
        score = f"F1 {f1:.3f} cross-validated (unsupervised {before:.3f})" if f1 is not None and before is not None else "F1 -"
        return f"{c.get('learnt_from', 0)} verdicts ({c.get('rejected', 0)} rejected) on {c.get('types', 0)} types and modes; {score}"
    accuracy = m.get("accuracy")
    held = f"accuracy {100 * accuracy:.2f} % on {c.get('held_out', 0)} held-out frames" if accuracy is not None else "accuracy -"
    return f"{c.get('frames', 0)} frames of {c.get('types', 0)} types and modes; {held}"


def format_bad_frames(metrics: Mapping[str, Any]) -> str:
    """The proof of concept's bad-frame table: per image type and mode, recall, precision, F1 on the verdicts."""
    per_type = metrics.get("per_type", {})
    if not per_type:
        return "bad-frame identification: no verdict on a scored calibration frame yet (calspot label, or the Night page)\n"
    names = {key: f"{v['image_type']} {v['mode']}".strip() for key, v in per_type.items()}
    width = max(10, *(len(n) for n in names.values()))
    lines = [
        "bad-frame identification on the experts' verdicts (trained: cross-validated, each frame judged by a model fitted without it;",
        "unsupervised: the thresholds without any verdict)",
        f"{'image type':{width}}  {'verdicts':>8}  {'rejected':>8}  {'recall':>6}  {'precision':>9}  {'F1':>5}  {'F1 unsup.':>9}",
    ]
    rows = [(names[k], v["trained"], v["unsupervised"]) for k, v in sorted(per_type.items())]
    rows.append(("all types", metrics.get("trained", {}), metrics.get("unsupervised", {})))
    for name, trained, unsupervised in rows:
        lines.append(
            f"{name:{width}}  {trained.get('verdicts', 0):8d}  {trained.get('rejected', 0):8d}  {_number(trained.get('recall'), 6)}  "
            f"{_number(trained.get('precision'), 9)}  {_number(trained.get('f1'), 5)}  {_number(unsupervised.get('f1'), 9)}"
        )
    return "\n".join(lines) + "\n"


def format_type_accuracy(model: StoredModel | None) -> str:
    """The proof of concept's image-type classification table: accuracy per type and mode on held-out frames."""
    if model is None:
        return "image-type classification: no type network trained yet (calspot train)\n"
    per_type = model.metrics.get("per_type", {})
    names = {key: f"{v['image_type']} {v['mode']}".strip() for key, v in per_type.items()}
    width = max(10, *(len(n) for n in names.values())) if names else 10
    lines = [
        f"image-type classification by the fully connected network {model.version} (held-out frames, "
        f"{model.counts.get('frames', 0)} frames of {model.counts.get('types', 0)} types and modes)",
        f"{'image type':{width}}  {'held out':>8}  {'accuracy':>9}",
    ]
    for key in sorted(per_type):
        row = per_type[key]
        accuracy = row.get("accuracy")
        lines.append(f"{names[key]:{width}}  {row.get('held_out', 0):8d}  {_percent(accuracy):>9}")
    lines.append(f"{'all types':{width}}  {model.counts.get('held_out', 0):8d}  {_percent(model.metrics.get('accuracy')):>9}")
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return f"{100 * value:.2f} %" if value is not None else "-"
