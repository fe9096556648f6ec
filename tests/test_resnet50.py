"""ResNet-50's seeded random weights are the same in every process and thread, whatever else draws random numbers."""

from __future__ import annotations

import random
import threading

import numpy as np

from core.embed.resnet50 import ResNet50Embedder
from tests.pipeline_fixtures import TEST_INPUT_SIZE


def inputs() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (3, TEST_INPUT_SIZE, TEST_INPUT_SIZE, 3)).astype(np.float32)


def test_seeded_weights_do_not_depend_on_another_thread_drawing_random_numbers(embedder: ResNet50Embedder) -> None:
    stop = threading.Event()

    def draw() -> None:  # as a Dask worker's event loop does while the network is built
        while not stop.is_set():
            random.random()

    noise = threading.Thread(target=draw, daemon=True)
    noise.start()
    try:
        again = ResNet50Embedder(weights="random", input_size=TEST_INPUT_SIZE, seed=0)
    finally:
        stop.set()
        noise.join()
    assert again.fingerprint == embedder.fingerprint == f"resnet50/random-seed0-v2/in{TEST_INPUT_SIZE}/3ch-asinh-v2"
    assert np.array_equal(again.embed(inputs()), embedder.embed(inputs()))


def test_another_seed_is_another_network(embedder: ResNet50Embedder) -> None:
    other = ResNet50Embedder(weights="random", input_size=TEST_INPUT_SIZE, seed=1)
    assert other.fingerprint != embedder.fingerprint
    assert not np.allclose(other.embed(inputs()), embedder.embed(inputs()))


def test_a_frame_has_the_same_descriptor_in_a_batch_of_any_size_and_the_network_is_traced_once(embedder: ResNet50Embedder) -> None:
    batch = np.random.default_rng(3).uniform(0, 255, (5, TEST_INPUT_SIZE, TEST_INPUT_SIZE, 3)).astype(np.float32)
    whole = embedder.embed(batch)
    np.testing.assert_allclose(embedder.embed(batch[:2]), whole[:2], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(batch[4:]), whole[4:], rtol=1e-3, atol=1e-5)
    assert embedder._forward.experimental_get_tracing_count() == 1
