"""Score a night: choose each type's reference, run its detector, and word the reasons.

The reference of an image type and mode is the usable frames of its most recent
earlier nights (``history_nights``): frames with descriptors or quality numbers,
not rejected by an expert, and not flagged unless an expert accepted them. With
fewer than ``min_reference`` such frames the night's own frames are compared with
each other (plus what history there is); with fewer than three frames in all, the
report says "no reference yet" instead of guessing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import qc
from .config import Settings
from .detect import DESCRIPTOR_FEATURE, DETECTOR_VERSION, FrameDetector, FrameSet, TypeClassifier
from .explain import (
    TypeClass,
    difference_image,
    difference_png,
    explanation_details,
    is_type_mismatch,
    word_deviation,
    word_judgement,
    word_mismatch,
)
from .models import ActiveModels, load_active_models
from .rules import CALIBRATION_CATEGORIES
from .store import NewScore, Store, StoredImage

MIN_FRAMES_TO_COMPARE = 3
REASONS_SHOWN = 3
TYPE_NEIGHBOURS = 7
TYPE_AGREEMENT = 0.8
TYPE_DISAGREEMENT = 0.1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """The frames a group is compared with, and how to say so in a reason."""

    kind: str
    frames: list[StoredImage]
    nights: int
    since: str | None = None  # the night of the certified change the reference starts from

    def summary(self) -> dict:
        """What the reference was, for the stored explanation."""
        return {
            "kind": self.kind,
            "frames": len(self.frames),
            "nights": self.nights,
            "first_night": min((f.night for f in self.frames), default=None),
            "last_night": max((f.night for f in self.frames), default=None),
            "certified_since": self.since,
        }

    def phrase(self, scored_in_reference: bool) -> str:
        if self.kind == "history":
            nights = f"the last {self.nights} night{'s' if self.nights != 1 else ''}"
            return nights if self.since is None else f"{nights} since the change certified on {self.since}"
        others = len(self.frames) - (1 if scored_in_reference else 0)
        return f"the other {others} frames of this night" if self.nights == 0 else f"{others} frames of this and earlier nights"


def model_version(fingerprint: str, models: ActiveModels | None = None) -> str:
    """The version of everything that produced a score (recorded with every verdict on it).

    The detector, the quality numbers, the embedder, and the trained models in use
    (``unsupervised`` before the first ``calspot train``).
    """
    trained = models.version if models is not None else "unsupervised"
    return f"{DETECTOR_VERSION}|{qc.QC_VERSION}|{fingerprint}|{trained}"


def frame_set(frames: Sequence[StoredImage], category: str, dim: int) -> FrameSet:
    """The detector's view of stored frames (rows of NaN for frames without a descriptor)."""
    descriptors = np.full((len(frames), dim), np.nan, dtype=np.float32)
    for i, frame in enumerate(frames):
        if frame.descriptor is not None and len(frame.descriptor) == dim:
            descriptors[i] = frame.descriptor
    return FrameSet(
        ids=[f.image_id for f in frames],
        nights=[f.night for f in frames],
        metrics=[f.metrics for f in frames],
        descriptors=descriptors,
        profiles=[f.profiles for f in frames],
        category=category,
        pixels=int(np.prod(frames[0].shape)) if frames else None,
    )


def usable_as_reference(frame: StoredImage) -> bool:
    """Whether a stored frame may stand for "normal"."""
    if frame.verdict == "reject" or frame.duplicate_of or not (frame.metrics or frame.descriptor is not None):
        return False
    return frame.verdict == "accept" or not frame.flagged


def choose_reference(
    store: Store, night: str, image_type: str, mode: str, frames: list[StoredImage], settings: Settings, fingerprint: str
) -> Reference:
    """History if there is enough of it, else the night's frames (plus any history).

    The history starts at the newest change certified for this type and mode on or
    before the night (:meth:`Store.certify`): frames from before an intervention no
    longer stand for normal; nor do frames still carrying an older calspot's quality
    numbers (:meth:`Store.measured_by_older_calspot`).
    """
    certified = store.certified_since(image_type, mode, night)
    since = certified.night if certified else None
    nights = store.earlier_nights(image_type, mode, night, settings.history_nights, since=since)
    history = []
    if nights:
        older = store.measured_by_older_calspot(qc.QC_VERSION, nights=nights, image_type=image_type, mode=mode)
        candidates = store.images(fingerprint, qc.QC_VERSION, image_type=image_type, mode=mode, nights=nights)
        history = [f for f in candidates if usable_as_reference(f) and f.image_id not in older]
    if len(history) >= settings.min_reference:
        return Reference("history", history, len({f.night for f in history}), since)
    tonight = [f for f in frames if not f.duplicate_of and (f.metrics or f.descriptor is not None)]
    combined = history + tonight
    if len(combined) >= MIN_FRAMES_TO_COMPARE:
        return Reference("night", combined, len({f.night for f in history}), since)
    return Reference("none", combined, len({f.night for f in history}), since)


def score_group(frames: list[StoredImage], reference: Reference, settings: Settings, models: ActiveModels | None = None) -> list[NewScore]:
    """Scores of one type and mode's frames of a night against their reference.

    With a trained bad-frames model that learnt this type and mode, its threshold and
    its probability decide the flag (:meth:`core.models.GroupJudge.judge`); without
    one, the unsupervised threshold does.
    """
    bad_frames = models.bad_frames if models is not None else None
    category = frames[0].category
    if category not in CALIBRATION_CATEGORIES:
        note = (
            f"{category} frame: not a calibration, not scored"
            if category != "unknown"
            else f"{frames[0].header_type}: an image type calspot does not check, not scored"
        )
        return [_unscored(f, note) for f in frames]
    if reference.kind == "none":
        have = len(reference.frames)
        so_far = f"{have} frame{'s' if have != 1 else ''} of this type and mode so far"
        note = f"no reference yet: {so_far}, {MIN_FRAMES_TO_COMPARE} needed to compare"
        return [_unscored(f, note) for f in frames]
    dim = next((len(f.descriptor) for f in reference.frames if f.descriptor is not None), 0)
    detector = FrameDetector(neighbours=settings.neighbours).fit(frame_set(reference.frames, category, dim))
    scorable = [f for f in frames if f.metrics or f.descriptor is not None]
    explanations = dict(zip((f.image_id for f in scorable), detector.explain(frame_set(scorable, category, dim)))) if scorable else {}
    reference_ids = {f.image_id for f in reference.frames}
    paths = {f.image_id: (f.path, f.ext) for f in reference.frames}
    shapes = Counter(f.shape for f in reference.frames)
    scores = []
    for frame in frames:
        explanation = explanations.get(frame.image_id)
        if explanation is None:
            scores.append(_unscored(frame, "nothing to compare: the image has no valid pixels"))
            continue
        phrase = reference.phrase(frame.image_id in reference_ids)
        judgement = (
            bad_frames.judge(frame.image_type, frame.mode, explanation.score, explanation.threshold, explanation.z) if bad_frames else None
        )
        threshold = judgement.threshold if judgement else explanation.threshold
        # Physical numbers explain better than the descriptor distance: it comes last.
        over = sorted((d for d in explanation.deviations if abs(d.z) > threshold), key=lambda d: d.name == DESCRIPTOR_FEATURE)
        problems = _problems(frame) + _shape_problem(frame, shapes, frame.image_id in reference_ids)
        above = explanation.score > threshold
        flagged = (judgement.flagged if judgement else above) or bool(problems)
        learnt = [word_judgement(judgement, bad_frames.version)] if judgement and judgement.flagged != above else []
        reasons = problems + learnt + ([word_deviation(d, phrase, category) for d in over[:REASONS_SHOWN]] if flagged else [])
        details = explanation_details(explanation, reference.summary(), threshold, paths, category)
        if judgement:
            details["threshold_basis"] = "verdicts"
            details["learned"] = {
                "model": bad_frames.version,
                "p_bad": judgement.p_bad,
                "p_supervised": judgement.p_supervised,
                "p_unsupervised": judgement.p_unsupervised,
                "trust": judgement.trust,
            }
        scores.append(
            NewScore(
                image_id=frame.image_id,
                score=float(explanation.score),
                threshold=threshold,
                flagged=flagged,
                reference=reference.kind,
                reasons=reasons,
                details=details,
            )
        )
    return scores


def _problems(frame: StoredImage) -> list[str]:
    problems = list(frame.problems)
    if frame.duplicate_of:
        problems.append(f"duplicate: same content as {frame.duplicate_of}")
    return problems


def _shape_problem(frame: StoredImage, reference_shapes: Counter, in_reference: bool) -> list[str]:
    """A problem when the frame's size differs from that of most frames it is compared with.

    A read-out window or binning that the header does not announce as a mode makes
    every number incomparable; the astronomer is told so plainly. ``reference_shapes``
    counts the reference frames' sizes, the frame's own among them when it is one.
    """
    shapes = reference_shapes - Counter([frame.shape]) if in_reference else reference_shapes
    if not shapes:
        return []
    common, count = shapes.most_common(1)[0]
    if frame.shape == common or 2 * count <= sum(shapes.values()):
        return []
    return [f"image of {frame.shape[0]}x{frame.shape[1]} pixels; the frames it is compared with have {common[0]}x{common[1]}"]


def _unscored(frame: StoredImage, note: str, *, flagged: bool = False) -> NewScore:
    problems = _problems(frame)
    return NewScore(
        image_id=frame.image_id,
        score=None,
        threshold=None,
        flagged=flagged or bool(problems),
        reference="none",
        reasons=[*problems, note],
        details={},
    )


def _remeasure_note(version: str) -> str:
    return (
        f"not checked: its quality numbers were measured by an older calspot (QC version {version}, this one measures"
        f" version {qc.QC_VERSION}); ingest its file again to measure them"
    )


def _failure(exc: Exception) -> str:
    """One line that says what went wrong, for a reason or a log line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def score_group_safely(
    frames: list[StoredImage], reference: Reference, settings: Settings, classifiers, classes, models: ActiveModels | None = None
) -> list[NewScore]:
    """:func:`score_group` and the type check, contained: a group that cannot be scored says why on its frames.

    No frame can break its group and no group the night: whatever fails here, each of
    the group's frames gets a flagged row "not scored: ...", so that the astronomer
    looks at frames calspot could not check, and the other groups are scored as usual.
    """
    try:
        scores = score_group(frames, reference, settings, models)
    except Exception as exc:  # a detector failure on odd frames must not lose the night
        log.warning("could not score %s %s (%d frames): %s", frames[0].image_type, frames[0].mode, len(frames), _failure(exc))
        log.debug("scoring failure", exc_info=True)
        note = f"not scored: the detector failed on this image type and mode ({_failure(exc)})"
        return [_unscored(f, note, flagged=True) for f in frames]
    if frames[0].category in CALIBRATION_CATEGORIES:
        try:
            check_types(frames, scores, classifiers, classes)
        except Exception as exc:  # the scores stand without the type check
            log.warning("could not check the types of %s %s: %s", frames[0].image_type, frames[0].mode, _failure(exc))
            log.debug("type check failure", exc_info=True)
    return scores


def fit_type_classifiers(
    store: Store, night: str, instruments: Sequence[str], settings: Settings, fingerprint: str
) -> tuple[dict[str, tuple[TypeClassifier, set[str]]], dict[str, TypeClass]]:
    """One type classifier per instrument, fitted on the recent history of all its types and modes.

    Returns, per instrument, the classifier and the classes it knows well enough (at
    least ``min_reference`` usable frames) to say that a frame does not belong to
    them, and the classes by key. Instruments with fewer than two such classes get
    no classifier.
    """
    classifiers = {}
    classes: dict[str, TypeClass] = {}
    for instrument in instruments:
        examples = [f for f in store.type_examples(instrument, night, settings.history_nights, fingerprint) if usable_as_reference(f)]
        frames = _comparable_descriptors(examples)
        keys = [TypeClass.of(f).key for f in frames]
        classes.update((TypeClass.of(f).key, TypeClass.of(f)) for f in frames)
        counts = {k: keys.count(k) for k in set(keys)}
        known = {k for k, n in counts.items() if n >= settings.min_reference}
        if len(known) < 2:
            continue
        chosen = [i for i, k in enumerate(keys) if k in known]
        classifier = TypeClassifier(neighbours=TYPE_NEIGHBOURS).fit(
            np.stack([frames[i].descriptor for i in chosen]), [keys[i] for i in chosen]
        )
        classifiers[instrument] = (classifier, known)
    return classifiers, classes


def _comparable_descriptors(frames: Sequence[StoredImage]) -> list[StoredImage]:
    """The frames whose descriptors can stand side by side: finite, and of the most common length."""
    finite = [f for f in frames if f.descriptor is not None and np.isfinite(f.descriptor).all() and np.any(f.descriptor)]
    if not finite:
        return []
    length = Counter(len(f.descriptor) for f in finite).most_common(1)[0][0]
    return [f for f in finite if len(f.descriptor) == length]


def check_types(
    frames: Sequence[StoredImage],
    scores: Sequence[NewScore],
    classifiers: dict[str, tuple[TypeClassifier, set[str]]],
    classes: dict[str, TypeClass],
) -> None:
    """Flag frames whose pixels look like another type or mode than the header says, and say so first.

    Each classifier judges all of its frames at once: one comparison of the group's
    descriptors with its examples instead of one per frame.
    """
    judged: dict[str, list[tuple[StoredImage, NewScore, TypeClass]]] = {}
    for frame, score in zip(frames, scores):
        own = TypeClass.of(frame)
        entry = classifiers.get(frame.instrument)
        if entry is None or frame.descriptor is None or own.key not in entry[1]:
            continue
        if len(frame.descriptor) != entry[0].n_features_in_ or not np.isfinite(frame.descriptor).all():
            continue
        judged.setdefault(frame.instrument, []).append((frame, score, own))
    for instrument, members in judged.items():
        classifier, _ = classifiers[instrument]
        known = list(classifier.classes_)
        for (frame, score, own), shares in zip(members, classifier.predict_proba(np.stack([f.descriptor for f, _, _ in members]))):
            best = int(np.argmax(shares))
            predicted = str(classifier.classes_[best])
            own_share = float(shares[known.index(own.key)])
            confident = shares[best] >= TYPE_AGREEMENT and own_share <= TYPE_DISAGREEMENT
            if predicted != own.key and confident and is_type_mismatch(classes[predicted], own):
                score.reasons.insert(len(_problems(frame)), word_mismatch(classes[predicted], own, float(shares[best])))
                score.details["looks_like"] = {
                    "image_type": classes[predicted].image_type,
                    "mode": classes[predicted].mode,
                    "share": float(shares[best]),
                }
                score.flagged = True


def attach_differences(store: Store, scores: Sequence[NewScore]) -> None:
    """Give every score with nearest reference frames a difference image against their median."""
    wanted = {s.image_id for s in scores}
    for s in scores:
        wanted.update(n["image_id"] for n in s.details.get("neighbours", []))
    previews = store.previews(wanted, qc.QC_VERSION)
    for s in scores:
        own = previews.get(s.image_id)
        if own is None:
            continue
        # Only pictures of the same size can be subtracted pixel by pixel.
        neighbours = [
            previews[n["image_id"]]
            for n in s.details.get("neighbours", [])
            if n["image_id"] in previews and previews[n["image_id"]].shape == own.shape
        ]
        if not neighbours:
            continue
        try:
            difference, scale = difference_image(own, neighbours)
            s.difference = difference_png(difference, scale)
        except Exception as exc:  # a score stands without its picture
            log.warning("no difference image for image %d: %s", s.image_id, _failure(exc))
            continue
        s.details["difference"] = {"scale_adu": scale, "frames": len(neighbours)}


def type_networks(models: ActiveModels | None, instruments: Sequence[str]) -> tuple[dict[str, tuple], dict[str, TypeClass]]:
    """The trained type network as the type check of each instrument it learnt (empty without one)."""
    network = models.image_types if models is not None else None
    if network is None:
        return {}, {}
    classes = {}
    for key in network.classes_:
        image_type, mode = str(key).split("|", 1)
        classes[str(key)] = TypeClass(image_type, mode, network.header_types.get(str(key), ""))
    return {i: (network, set(network.instruments[i])) for i in instruments if i in network.instruments}, classes


def score_night(
    store: Store, night: str, settings: Settings, fingerprint: str, run_id: int, models: ActiveModels | None = None
) -> list[NewScore]:
    """Score every image of a night against its type's reference and store the results.

    Parameters
    ----------
    store
        Where the night's images and their history are.
    night
        ``YYYY-MM-DD``.
    settings
        ``history_nights``, ``min_reference`` and ``neighbours`` are used.
    fingerprint
        Descriptors of this embedder are compared (never mixed with another's).
    run_id
        The run the scores belong to.
    models
        The trained models to use (:func:`core.models.load_active_models`); None
        loads the store's active ones.

    Returns
    -------
    list of NewScore
        What was stored, one per image. Never raises for odd frames: a group that
        cannot be scored gets flagged rows that say so (:func:`score_group_safely`).
    """
    if models is None:
        models = load_active_models(store, settings.home)
    older = store.measured_by_older_calspot(qc.QC_VERSION, night=night)
    if older:
        log.warning(
            "%d image(s) of night %s have the quality numbers of an older calspot: ingest their files again to check them",
            len(older),
            night,
        )
    results: list[NewScore] = []
    groups = []
    for image_type, mode in store.image_groups(night):
        frames = store.images(fingerprint, qc.QC_VERSION, night=night, image_type=image_type, mode=mode)
        results.extend(_unscored(f, _remeasure_note(older[f.image_id]), flagged=True) for f in frames if f.image_id in older)
        frames = [f for f in frames if f.image_id not in older]
        if frames:
            groups.append((frames, choose_reference(store, night, image_type, mode, frames, settings, fingerprint)))
    instruments = sorted({f.instrument for frames, _ in groups for f in frames})
    try:
        classifiers, classes = fit_type_classifiers(store, night, instruments, settings, fingerprint)
        networks, network_classes = type_networks(models, instruments)
        classifiers.update(networks)
        classes.update(network_classes)
    except Exception as exc:  # frames are still scored, only without the type check
        log.warning("no type check for night %s: %s", night, _failure(exc))
        log.debug("type classifier failure", exc_info=True)
        classifiers, classes = {}, {}
    for frames, reference in groups:
        results.extend(score_group_safely(frames, reference, settings, classifiers, classes, models))
    attach_differences(store, results)
    store.add_scores(results, run_id, model_version(fingerprint, models))
    return results
