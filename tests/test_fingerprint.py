"""A changed embedder (another network input size) describes the files again and keeps the old descriptors.

Descriptors are keyed by (content hash, extension, embedder fingerprint): a new model
never mixes its descriptors with an old one's, and going back to the old model finds
its descriptors still stored.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from core.embed.resnet50 import ResNet50Embedder
from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from core.store.schema import Descriptor
from tests.pipeline_fixtures import TEST_INPUT_SIZE, make_settings

OTHER_INPUT_SIZE = 32


@pytest.fixture(scope="module")
def other_embedder() -> ResNet50Embedder:
    """The test network on a smaller input: another fingerprint."""
    return ResNet50Embedder(weights="random", input_size=OTHER_INPUT_SIZE, seed=0)


def descriptors(store: Store) -> dict[str, dict[tuple[str, int], bytes]]:
    """Stored descriptor vectors per fingerprint, by (content hash, extension)."""
    with store._sessions() as session:
        rows = session.execute(select(Descriptor.fingerprint, Descriptor.content_hash, Descriptor.ext, Descriptor.vector)).all()
    out: dict[str, dict[tuple[str, int], bytes]] = {}
    for fingerprint, content_hash, ext, vector in rows:
        out.setdefault(fingerprint, {})[(content_hash, ext)] = vector
    return out


@pytest.fixture
def few_files(simulated_nights: Path, tmp_path: Path) -> Path:
    """Six files of the first simulated night: blue frames (one image) and red ones (two chips)."""
    night = sorted(p for p in simulated_nights.iterdir() if p.is_dir())[0]
    files = sorted(night.glob("*.fits"))
    folder = tmp_path / "raw" / night.name
    folder.mkdir(parents=True)
    for path in files[:3] + files[-3:]:
        shutil.copy(path, folder / path.name)
    return folder


def test_a_new_fingerprint_describes_again_and_keeps_the_old_descriptors(few_files, tmp_path, embedder, other_embedder):
    night = few_files
    home = tmp_path / "home"
    settings, other_settings = make_settings(home), make_settings(home, input_size=OTHER_INPUT_SIZE)
    store = Store.open(settings)
    assert embedder.fingerprint != other_embedder.fingerprint and f"in{TEST_INPUT_SIZE}" in embedder.fingerprint

    first = ingest([night], settings, store=store, embedder=embedder)
    old = descriptors(store)
    assert first.files_new == first.files_found == 6 and list(old) == [embedder.fingerprint]
    assert {ext for _, ext in old[embedder.fingerprint]} == {0, 1, 2}

    second = ingest([night], other_settings, store=store, embedder=other_embedder)
    assert (second.files_new, second.files_known) == (second.files_found, 0)
    assert second.images == first.images
    now = descriptors(store)
    assert set(now) == {embedder.fingerprint, other_embedder.fingerprint}
    assert now[embedder.fingerprint] == old[embedder.fingerprint]
    assert now[other_embedder.fingerprint].keys() == old[embedder.fingerprint].keys()
    rows = [r for r in night_report(store, first.nights[0]) if r["ext"] is not None]
    assert rows and {r["model_version"].split("|")[2] for r in rows} == {other_embedder.fingerprint}

    third = ingest([night], settings, store=store, embedder=embedder)
    assert (third.files_new, third.files_known) == (0, third.files_found)
    assert descriptors(store) == now
