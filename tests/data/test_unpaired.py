"""Unpaired and multi-domain loaders on the edges2handbags sample and written fixtures."""

import numpy as np

from keras_i2i.data import multi_domain, synthetic, unpaired
from tests.data.conftest import batches


def test_edges2handbags_sample_with_munit_lists(shared_dir):
    root = shared_dir / "data" / "edges2handbags_sample"
    dataset = unpaired(root, "edges2handbags", batch_size=2, seed=0)
    samples = batches(dataset)
    assert len(samples) == 4  # 8 images per domain
    assert samples[0]["image_a"].shape == (2, 256, 256, 3) and samples[0]["image_b"].shape == (
        2,
        256,
        256,
        3,
    )
    # edges are mostly white, photos are not
    assert np.mean([s["image_a"].mean() for s in samples]) > np.mean(
        [s["image_b"].mean() for s in samples]
    )
    test = batches(unpaired(root, "edges2handbags", phase="test", lists=False, batch_size=None))
    assert len(test) == 9
    mixed = batches(multi_domain(root, "edges2handbags", batch_size=None, crop_size=64, seed=0))
    assert len(mixed) == 16 and {int(s["domain"]) for s in mixed} == {0, 1}


def test_domains_are_shuffled_independently_and_the_smaller_repeats(tmp_path):
    synthetic.write_unpaired(tmp_path, 5, size=16)
    for name in ["00003.png", "00004.png"]:
        (tmp_path / "trainB" / name).unlink()
    samples = batches(
        unpaired(tmp_path, batch_size=None, crop_size=16, load_size=16, flip=False, seed=1)
    )
    assert len(samples) == 5
    a = {s["image_a"].tobytes() for s in samples}
    b = {s["image_b"].tobytes() for s in samples}
    assert len(a) == 5 and len(b) == 3


def test_n_domains_from_their_folders(tmp_path):
    synthetic.write_unpaired(tmp_path, 4, size=16, domains=("day", "night", "edges"))
    samples = batches(multi_domain(tmp_path, batch_size=None, crop_size=16, load_size=16, seed=0))
    assert len(samples) == 12
    domains = np.array([s["domain"] for s in samples])
    assert set(domains) <= {0, 1, 2} and len(set(domains)) > 1
    edges = [s["image"] for s in samples if s["domain"] == 2]
    assert all(set(np.unique(image)) <= {-1.0, 1.0} for image in edges)


def test_an_evaluation_split_has_each_image_once_the_domains_taking_turns(tmp_path):
    synthetic.write_unpaired(tmp_path, 2, phase="test", size=16, domains=("day", "night"))
    synthetic.write_unpaired(tmp_path, 4, phase="test", size=16, domains=("edges",))  # testA
    samples = batches(multi_domain(tmp_path, phase="test", batch_size=None, crop_size=16,
                                   load_size=16))
    assert [int(s["domain"]) for s in samples] == [0, 1, 0, 1, 0, 0]
    edges = [s["image"].tobytes() for s in samples if s["domain"] == 0]
    assert len(set(edges)) == 4
