"""The real datasets for training to a target: installed (nothing downloaded), cited, split
the same way every time, and one seeded order of batches for every framework."""

from __future__ import annotations

import numpy as np
import pytest

from dlarena.data import DATASETS, batch_order, digits, python_docs


def test_digits_are_the_bundled_images_split_the_same_way_every_time() -> None:
    first, again = digits(), digits()
    assert first.input_shape == (8, 8, 1) and first.num_classes == 10
    assert len(first.x_train) + len(first.x_test) == 1797 and len(first.x_test) == 359
    assert (
        first.x_train.dtype == np.float32
        and 0.0 <= first.x_train.min() < first.x_train.max() <= 1.0
    )
    assert np.array_equal(first.x_test, again.x_test) and np.array_equal(
        first.y_train, again.y_train
    )
    assert set(np.unique(first.y_test)) == set(range(10))  # every class is held out too
    train_rows = {row.tobytes() for row in first.x_train}
    unseen = sum(row.tobytes() not in train_rows for row in first.x_test)
    assert unseen > 0.9 * len(first.x_test)  # held-out images, not copies of training ones


def test_python_docs_are_next_byte_windows_with_the_end_of_the_text_held_out() -> None:
    text = python_docs(sequence=32)
    assert text.task == "language" and text.num_classes == 256 and text.input_shape == (32,)
    assert np.array_equal(text.x_train[:, 1:], text.y_train[:, :-1])  # targets: the next byte
    assert np.array_equal(text.x_train[1:, 0], text.y_train[:-1, -1])  # windows follow on
    assert 0.08 < len(text.x_test) / (len(text.x_train) + len(text.x_test)) < 0.12
    joined = np.concatenate(list(text.x_train[:50])).astype(np.uint8).tobytes()
    assert " the " in joined.decode("utf-8", errors="ignore")  # English, in order


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_names_its_source_and_licence(name: str) -> None:
    found = DATASETS[name]()
    assert found.name == name and found.source and found.licence and not found.synthetic


def test_the_batch_order_is_seeded_and_visits_every_row_once_per_epoch() -> None:
    order = batch_order(rows=10, batch_size=3, steps=7, seed=1)
    assert order.shape == (7, 3) and np.array_equal(order, batch_order(10, 3, 7, 1))
    assert not np.array_equal(order, batch_order(10, 3, 7, 2))
    for epoch in (order[0:3], order[3:6]):  # three whole batches per epoch of ten rows
        assert len(set(epoch.ravel())) == 9
    with pytest.raises(ValueError, match="a batch of 11 from 10 rows"):
        batch_order(10, 11, 1, 0)
