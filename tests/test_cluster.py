"""Clustering frames by their pixels: seeded clusters, synthetic frames, the real frames, the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy.cluster import hierarchy
from sklearn.metrics import adjusted_rand_score

from core.cli import main
from core.cluster import (
    PIXEL_STATISTICS,
    HierarchicalClusters,
    KMeansClusters,
    SpectralClusters,
    cluster_frames,
    cluster_store,
    cosine_affinity,
    dendrogram_data,
    descriptor_linkage,
    pixel_statistics,
    type_identification,
)
from core.pipeline import ingest
from core.preprocess import preview, reduce_image
from core.qc import measure_quality
from core.store import Store, StoredImage, pack_preview, unpack_preview
from tests.pipeline_fixtures import TEST_INPUT_SIZE, make_settings

REAL = Path(__file__).resolve().parent / "data" / "real"
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
ESTIMATORS = (HierarchicalClusters, KMeansClusters, SpectralClusters)
METHODS = ("hierarchical", "kmeans", "spectral")


# ----------------------------------------------------------------------------- seeded clusters


def blobs(sizes, spread=0.03, distance=2.0, dim=9, seed=0):
    """Points around centres ``distance`` apart, ``spread`` scatter; the true labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    centres *= distance / np.sqrt(2 * dim)
    points = np.vstack([c + rng.normal(scale=spread, size=(n, dim)) for c, n in zip(centres, sizes)])
    return points, np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_seeded_clusters_are_recovered_with_their_number(estimator):
    points, truth = blobs([12, 7, 4, 1], seed=1)
    model = estimator().fit(points)
    assert model.n_clusters_ == 4
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert list(model.labels_[[0, 12, 19, 23]]) == [0, 1, 2, 3]  # numbered in order of appearance


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_one_kind_of_frame_is_one_cluster(estimator):
    points, _ = blobs([15], spread=0.05, seed=2)
    assert estimator().fit(points).n_clusters_ == 1
    assert estimator().fit(points[:1]).labels_.tolist() == [0]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_a_given_number_of_clusters_overrides_the_cut(estimator):
    points, _ = blobs([10, 10, 10], seed=3)
    assert estimator(n_clusters=3).fit(points).n_clusters_ == 3
    assert estimator(n_clusters=1).fit(points).n_clusters_ == 1


def test_cosine_affinity_and_descriptor_dendrogram_recover_directions():
    rng = np.random.default_rng(4)
    directions = np.abs(rng.normal(size=(3, 2048)))
    sizes = [6, 4, 3]
    descriptors = np.vstack([d * rng.uniform(0.5, 2, (n, 1)) + rng.normal(scale=0.05, size=(n, 2048)) for d, n in zip(directions, sizes)])
    truth = np.repeat(np.arange(3), sizes)
    affinity = cosine_affinity(descriptors)
    assert affinity.shape == (13, 13) and np.allclose(affinity, affinity.T) and np.allclose(np.diag(affinity), 1)
    assert affinity[0, 1] > 0.99 > affinity[0, 6]  # the length of a descriptor does not matter, its direction does
    linkage = descriptor_linkage(descriptors)
    assert adjusted_rand_score(truth, hierarchy.fcluster(linkage, 3, criterion="maxclust")) == 1.0

    tree = dendrogram_data(linkage, labels=[f"frame{i}" for i in range(13)])
    assert tree.icoord.shape == tree.dcoord.shape == (12, 4)
    assert sorted(tree.leaves) == list(range(13))
    assert tree.leaf_labels == tuple(f"frame{i}" for i in tree.leaves)
    assert np.array_equal(tree.heights, linkage[:, 2]) and np.all(np.diff(tree.heights) >= 0)
    positions = {leaf: i for i, leaf in enumerate(tree.leaves)}
    for kind in range(3):  # each kind's leaves sit side by side
        spots = sorted(positions[i] for i in np.flatnonzero(truth == kind))
        assert spots == list(range(spots[0], spots[0] + len(spots)))
    assert np.isclose(tree.dcoord.max(), linkage[:, 2].max())


# ----------------------------------------------------------------------------- synthetic frames

SHAPE = (120, 200)


def synthetic_frame(kind: str, rng: np.random.Generator, shape=SHAPE, bright: float = 1.0) -> np.ndarray:
    """Raw uint16 pixels of a bias, a flat (five orders) or an arc (lines along x)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    light = np.zeros(shape)
    if kind == "flat":
        for centre in np.linspace(10, shape[0] - 10, 5):
            light += 20000 * bright * np.exp(-0.5 * ((rows - centre) / 4) ** 2)
    elif kind == "arc":
        slit = np.abs(rows - shape[0] / 2) < shape[0] / 3
        heights = [9000, 3000, 20000, 5000, 12000, 2500, 8000, 15000, 4000]
        for centre, height in zip(np.linspace(8, shape[1] - 8, 9), heights):
            light += height * np.exp(-0.5 * ((cols - centre) / 1.2) ** 2) * slit
    counts = rng.poisson(light) if kind != "bias" else 0
    return np.clip(1000 + counts + rng.normal(0, 3.0, shape), 0, 65535).astype(np.uint16)


def stored(
    image_id: int, pixels: np.ndarray, image_type: str, header_type: str, category: str, descriptor: np.ndarray | None
) -> tuple[StoredImage, np.ndarray]:
    """A stored image of synthetic pixels, measured as the pipeline measures them, and its preview."""
    quality = measure_quality(pixels, fits.Header(), category)
    frame = StoredImage(
        image_id=image_id,
        file_id=image_id,
        path=f"/night/frame{image_id:02d}.fits",
        ext=0,
        shape=pixels.shape,
        instrument="UVES",
        image_type=image_type,
        category=category,
        header_type=header_type,
        mode="",
        night="2025-01-01",
        date_obs=None,
        problems=[],
        duplicate_of=None,
        descriptor=descriptor,
        metrics=quality.metrics,
        profiles=quality.profiles,
    )
    return frame, unpack_preview(pack_preview(preview(reduce_image(pixels, 64))))


@pytest.fixture(scope="module")
def synthetic_night():
    """Six biases, five flats, four arcs, an arc whose header says TARGET, three biases of another size."""
    rng = np.random.default_rng(5)
    kinds = [("bias", "UVES_BLUE_BIAS_ext0", "BIAS")] * 6 + [("flat", "UVES_BLUE_FLAT_ext0", "LAMP,FLAT")] * 5
    kinds += [("arc", "UVES_BLUE_WAVE_ext0", "LAMP,WAVE")] * 4 + [("arc", "UVES_BLUE_SCIENCE_ext0", "TARGET")]
    looks = {kind: rng.uniform(0, 1, 64) for kind in ("bias", "flat", "arc")}  # what the network sees in each kind
    frames, previews = [], {}
    for i, (kind, image_type, header_type) in enumerate(kinds):
        category = "science" if header_type == "TARGET" else kind
        descriptor = looks[kind] + rng.normal(0, 0.01, 64)
        frame, picture = stored(i, synthetic_frame(kind, rng), image_type, header_type, category, descriptor)
        frames.append(frame)
        previews[i] = picture
    for i in range(len(kinds), len(kinds) + 3):
        frame, picture = stored(i, synthetic_frame("bias", rng, (60, 100)), "UVES_BLUE_BIAS_ext0", "BIAS", "bias", None)
        frames.append(frame)
        previews[i] = picture
    return frames, previews


def test_pixel_statistics_do_not_depend_on_the_category_read_from_the_header():
    pixels = synthetic_frame("arc", np.random.default_rng(6))
    picture = preview(reduce_image(pixels, 64))
    as_read = {
        category: pixel_statistics(measure_quality(pixels, fits.Header(), category).metrics, picture)
        for category in ("arc", "science", "bias")
    }
    assert as_read["arc"].shape == (len(PIXEL_STATISTICS),)
    assert np.array_equal(as_read["arc"], as_read["science"]) and np.array_equal(as_read["arc"], as_read["bias"])


@pytest.mark.parametrize("method", METHODS)
def test_flats_of_a_shorter_exposure_stay_with_the_flats(method):
    rng = np.random.default_rng(8)
    frames, previews = [], {}
    for i, (kind, bright) in enumerate([("flat", 1.0)] * 4 + [("flat", 0.15)] * 2 + [("bias", 1.0)] * 4):
        name = f"UVES_BLUE_{kind.upper()}_ext0"
        frame, previews[i] = stored(i, synthetic_frame(kind, rng, bright=bright), name, kind.upper(), kind, None)
        frames.append(frame)
    clusters = [f.cluster for f in cluster_frames(frames, previews, method=method).frames]
    assert clusters == [1] * 6 + [2] * 4


@pytest.mark.parametrize("method", METHODS)
def test_a_frame_whose_header_lies_is_listed_with_the_reason(synthetic_night, method):
    frames, previews = synthetic_night
    clustering = cluster_frames(frames, previews, method=method)
    by_id = {f.image_id: f for f in clustering.frames}
    liar = by_id[15]
    assert liar.cluster == by_id[11].cluster and liar.cluster_name == "UVES_BLUE_WAVE_ext0" and liar.agrees is False
    assert liar.reason == "clusters with LAMP,WAVE frames; the header says TARGET"
    assert [f.image_id for f in clustering.disagreements] == [15]
    assert len({by_id[i].cluster for i in range(6)}) == len({by_id[i].cluster for i in range(6, 11)}) == 1
    small = {by_id[i].cluster for i in (16, 17, 18)}
    assert len(small) == 1 and small != {by_id[0].cluster}  # another size never shares a bias's cluster
    assert by_id[16].cluster_name == "UVES_BLUE_BIAS_ext0" and by_id[16].agrees
    assert clustering.n_clusters == 4
    assert "no descriptor" in " ".join(clustering.notes)  # the small biases were clustered by their pixels alone


def test_the_evaluation_counts_a_lying_header_against_both_types(synthetic_night):
    result = type_identification(cluster_frames(*synthetic_night))
    rows = {r.image_type: r for r in result.rows}
    assert (rows["UVES_BLUE_WAVE_ext0"].recall, rows["UVES_BLUE_WAVE_ext0"].precision) == (1.0, 0.8)
    assert rows["UVES_BLUE_SCIENCE_ext0"].recall == rows["UVES_BLUE_SCIENCE_ext0"].f1 == 0.0
    assert rows["UVES_BLUE_BIAS_ext0"].f1 == 1.0 and rows["UVES_BLUE_BIAS_ext0"].clusters == 2
    assert result.average.f1 == pytest.approx((1 + 1 + 2 * 0.8 / 1.8 + 0) / 4)
    assert result.average.frames == 19 and result.average.clusters == 4
    types = [f.image_type for f in synthetic_night[0]]
    assert result.adjusted_rand == pytest.approx(adjusted_rand_score(types, [0] * 6 + [1] * 5 + [2] * 5 + [3] * 3))


def test_frames_without_numbers_or_with_overflowing_previews_do_not_stop_the_clustering(synthetic_night):
    frames, previews = synthetic_night
    pixels = synthetic_frame("flat", np.random.default_rng(7))
    frame, picture = stored(30, pixels, "UVES_BLUE_FLAT_ext0", "LAMP,FLAT", "flat", frames[6].descriptor)
    picture[::7, ::5] = np.inf  # bright pixels of a preview stored as float16 offsets overflow
    empty = StoredImage(**{**vars(frames[0]), "image_id": 31, "metrics": {}})
    clustering = cluster_frames([*frames[:11], frame, empty], {**previews, 30: picture})
    by_id = {f.image_id: f for f in clustering.frames}
    assert by_id[30].cluster is not None and by_id[30].agrees
    assert by_id[31].cluster is None and by_id[31].reason.startswith("not clustered")
    assert any("could not be clustered" in n for n in clustering.notes)
    with pytest.raises(ValueError, match="unknown clustering method"):
        cluster_frames(frames, previews, method="dbscan")


# ----------------------------------------------------------------------------- real frames


def lying_arc_copies(folder: Path) -> None:
    """Two copies of Kast blue's arc: one as taken, one whose header calls it a science target."""
    with fits.open(REAL / "shane_kast_blue" / "b1.fits.gz") as hdus:
        hdus[0].header["HISTORY"] = "a repeated arc"
        hdus.writeto(folder / "b1_again.fits.gz")
        hdus[0].header["OBJECT"] = "HD 84937"
        hdus[0].header["OBSTYPE"] = "OBJECT"
        hdus.writeto(folder / "b1_target.fits.gz")


@pytest.fixture(scope="module")
def real_home(tmp_path_factory, embedder):
    """The real frames ingested together (WHT ISIS too where the shared copy is present), plus two arc copies."""
    root = tmp_path_factory.mktemp("real")
    copies = root / "copies"
    copies.mkdir()
    lying_arc_copies(copies)
    paths = [REAL / "shane_kast_blue", REAL / "shane_kast_red", REAL / "msumastro", copies]
    if (SHARED_REAL / "wht_isis_blue").is_dir():
        paths.append(SHARED_REAL / "wht_isis_blue")
    settings = make_settings(root / "home")
    store = Store.open(settings)
    result = ingest(paths, settings, store=store, embedder=embedder)
    assert not result.unreadable
    return settings, store


@pytest.mark.parametrize("method", METHODS)
def test_real_frames_cluster_by_instrument_arm_and_type(real_home, method):
    settings, store = real_home
    clustering = cluster_store(store, settings, method=method)
    real = [f for f in clustering.frames if "copies" not in Path(f.path).parent.name]
    assert len(real) >= 40 and all(f.cluster is not None for f in real)
    assert adjusted_rand_score([f.image_type for f in real], [f.cluster for f in real]) >= 0.9
    arms = {}
    for f in clustering.frames:
        arms.setdefault(f.cluster, set()).add(f.image_type.split("_")[:2] == ["KAST", "BLUE"])
    assert all(len(kinds) == 1 for kinds in arms.values())  # Kast's blue and red arms never share a cluster
    assert type_identification(clustering).average.f1 >= 0.9


def test_a_real_arc_whose_header_says_science_comes_out_as_an_arc(real_home):
    settings, store = real_home
    frames = {Path(f.path).name: f for f in cluster_store(store, settings).frames}
    liar = frames["b1_target.fits.gz"]
    assert liar.image_type == "KAST_BLUE_SCIENCE_ext0"
    assert liar.cluster == frames["b1.fits.gz"].cluster == frames["b1_again.fits.gz"].cluster
    assert liar.cluster_name == "KAST_BLUE_ARC_ext0" and liar.agrees is False
    assert liar.reason == "clusters with ARC frames; the header says SCIENCE"


@pytest.fixture
def cli_env(monkeypatch):
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.setenv("CALSPOT_INPUT_SIZE", str(TEST_INPUT_SIZE))


def test_clusters_csv_has_the_contract_columns(real_home, cli_env, capsys, tmp_path):
    settings, store = real_home
    assert main(["--home", str(settings.home), "clusters", "--all", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0])[:4] == ["path", "ext", "image_type", "cluster"]
    assert {"cluster_name", "agrees", "reason"} <= set(rows[0])
    assert len(rows) == len(cluster_store(store, settings).frames) and all(Path(r["path"]).is_absolute() for r in rows)
    assert all(r["cluster"].isdigit() and r["agrees"] in ("true", "false") for r in rows)
    liar = next(r for r in rows if r["path"].endswith("b1_target.fits.gz"))
    assert (liar["agrees"], liar["reason"]) == ("false", "clusters with ARC frames; the header says SCIENCE")

    out = tmp_path / "kast.csv"
    home = str(settings.home)
    assert main(["--home", home, "clusters", "--night", "2015-01-22", "--format", "csv", "--out", str(out)]) == 0
    night = list(csv.DictReader(out.open()))
    assert len(night) == 8 and {r["night"] for r in night} == {"2015-01-22"}
    assert main(["--home", str(settings.home), "clusters", "--night", "2015-01-22", "--method", "kmeans"]) == 0
    table = capsys.readouterr().out
    assert "KAST_RED_FLAT_ext0" in table and table.rstrip().endswith("disagreeing with their cluster's image type: 0")


def test_evaluate_clusters_prints_recall_precision_and_f1_per_type(real_home, cli_env, capsys):
    settings, _ = real_home
    assert main(["--home", str(settings.home), "evaluate", "clusters"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "adjusted Rand index" in lines[0]
    assert lines[1].split() == ["image", "type", "frames", "clusters", "recall", "precision", "F1"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[2:]}
    assert list(rows)[-1] == "average" and "KAST_RED_BIAS_ext0" in rows
    frames, _clusters, recall, precision, _f1 = rows["KAST_BLUE_ARC_ext0"]
    assert (frames, recall, precision) == (2, 1.0, 0.667)  # the arc that says science is predicted an arc
    assert rows["KAST_BLUE_SCIENCE_ext0"][2] < 1.0
    assert all(0 <= v <= 1 for r in rows.values() for v in r[2:])


def test_clusters_of_an_empty_home_say_what_to_do(tmp_path, cli_env, capsys):
    assert main(["--home", str(tmp_path / "empty"), "clusters", "--all"]) == 1
    err = capsys.readouterr().err
    assert "no nights yet" in err and "calspot ingest" in err and "Traceback" not in err
    assert main(["--home", str(tmp_path / "empty"), "evaluate"]) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "empty"), "clusters"])
    assert exit_info.value.code == 2
    assert "--night" in capsys.readouterr().err


def test_a_night_without_frames_is_reported_not_raised(real_home, cli_env, capsys):
    settings, _ = real_home
    assert main(["--home", str(settings.home), "clusters", "--night", "2001-01-01"]) == 0
    captured = capsys.readouterr()
    assert "no images for night 2001-01-01" in captured.err
    summary = "0 images in 0 clusters (hierarchical); disagreeing with their cluster's image type: 0"
    assert captured.out.rstrip().endswith(summary)
