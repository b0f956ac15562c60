"""DRIT / DRIT++ and MDMM networks: the reference vectors through the converter, the layer
contracts, the parameter counts, spectral norm and the content discriminator's sizes."""

import keras
import numpy as np
import pytest

from keras_i2i.convert import drit as convert
from keras_i2i.models.discriminators import MsImageDiscriminator
from keras_i2i.models.drit import (
    AttributeEncoder,
    AttributeResidualBlock,
    ContentDiscriminator,
    ContentEncoder,
    DownsamplingResidualBlock,
    Generator,
    MultiDomainDiscriminator,
    domain_discriminator,
)
from tests.testing import run_layer_test, run_model_saving_test

TOLERANCE = 1e-4
rng = np.random.default_rng(11)


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _assert_close(actual, expected, what):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: {actual.shape} vs {expected.shape}"
    np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=what)


def _images(batch=2, size=16, channels=3):
    return rng.uniform(-1, 1, (batch, size, size, channels)).astype("float32")


def _codes(domains, num_domains=3):
    return np.eye(num_domains, dtype="float32")[domains]


def _drit_checkpoint(ref):
    """The reference vector as DRIT's `model.save` contents: `{network: state dict, ...}`."""
    checkpoint = {"ep": 1, "total_it": 10}
    for key, value in ref.items():
        network, _, name = key.partition("/")
        if network not in ("input", "output", "config_json"):
            checkpoint.setdefault(network, {})[name] = value
    checkpoint["disA2"], checkpoint["disB2"] = checkpoint["disA"], checkpoint["disB"]
    return checkpoint


def test_drit_reference_vectors_through_the_converter(reference):
    ref = reference("drit_small.npz")
    channels, width = (3, 3), 8
    content_encoder = ContentEncoder(channels, width)
    attribute_encoder = AttributeEncoder(channels, 8, width)
    generator = Generator(channels, width, 8)
    discriminators = [domain_discriminator(width=width) for _ in channels]
    content_discriminator = ContentDiscriminator(width)
    convert.load_networks(
        {"enc_c": content_encoder, "enc_a": attribute_encoder, "gen": generator,
         "disA": discriminators[0], "disB": discriminators[1],
         "disContent": content_discriminator},
        _drit_checkpoint(ref))
    for branch, domain in enumerate("ab"):
        images = _nhwc(ref[f"input/image_{domain}"])
        content = content_encoder(images, branch=branch)
        _assert_close(content, _nhwc(ref[f"output/content_{domain}"]), f"content {domain}")
        mu, logvar = attribute_encoder(images, branch=branch)
        _assert_close(mu, ref[f"output/mu_{domain}"], f"mu {domain}")
        _assert_close(logvar, ref[f"output/logvar_{domain}"], f"logvar {domain}")
        _assert_close(ref[f"input/eps_{domain}"] * np.exp(np.asarray(logvar) / 2) + mu,
                      ref[f"output/attr_{domain}"], f"attribute {domain}")
        maps = discriminators[branch](images)
        assert len(maps) == 3
        for k, prediction in enumerate(maps):
            _assert_close(prediction, _nhwc(ref[f"output/dis_{domain}/{k}"]),
                          f"discriminator {domain} scale {k}")
        _assert_close(content_discriminator(_nhwc(ref[f"output/content_{domain}"])),
                      ref[f"output/dis_content_{domain}"], f"content discriminator {domain}")
    # fake_a = gen.forward_a(content_b, attr_a), fake_b = gen.forward_b(content_a, attr_b)
    for branch, (domain, other) in enumerate(("ab", "ba")):
        fake = generator(_nhwc(ref[f"output/content_{other}"]), ref[f"output/attr_{domain}"],
                         branch=branch)
        _assert_close(fake, _nhwc(ref[f"output/fake_{domain}"]), f"fake {domain}")


def test_mdmm_reference_vectors_through_the_converter(reference):
    ref = reference("mdmm_small.npz")
    width, domains = 8, 3
    content_encoder = ContentEncoder((3,), width)
    attribute_encoder = AttributeEncoder((3,), 8, width, num_domains=domains)
    generator = Generator((3,), width, 8, num_domains=domains)
    discriminator = MultiDomainDiscriminator(domains, 216, width)
    content_discriminator = ContentDiscriminator(width, num_domains=domains)
    convert.load_networks(
        {"enc_c": content_encoder, "enc_a": attribute_encoder, "gen": generator,
         "dis1": discriminator, "disContent": content_discriminator}, ref)
    images, code = _nhwc(ref["input/image"]), ref["input/domain_code"]
    np.testing.assert_array_equal(code, _codes(ref["input/domain"]))
    content = content_encoder(images)
    _assert_close(content, _nhwc(ref["output/content"]), "content")
    mu, logvar = attribute_encoder(images, domain_code=code)
    _assert_close(mu, ref["output/mu"], "mu")
    _assert_close(logvar, ref["output/logvar"], "logvar")
    _assert_close(ref["input/eps"] * np.exp(np.asarray(logvar) / 2) + mu, ref["output/attr"],
                  "attribute")
    content = _nhwc(ref["output/content"])
    _assert_close(generator(content[::-1], ref["output/attr"], domain_code=code),
                  _nhwc(ref["output/fake"]), "fake")
    _assert_close(generator(content, ref["input/z_random"],
                            domain_code=ref["input/target_domain_code"]),
                  _nhwc(ref["output/fake_random"]), "fake_random")
    adversarial, logits = discriminator(images)
    _assert_close(adversarial, _nhwc(ref["output/dis"]), "dis")
    assert not np.asarray(adversarial)[:, [0, -1]].any()
    _assert_close(logits, ref["output/dis_cls"], "dis_cls")
    _assert_close(content_discriminator(content), ref["output/dis_content"], "dis_content")


def test_loading_reports_mismatched_checkpoints(reference):
    ref = reference("drit_small.npz")
    with pytest.raises(ValueError) as error:
        convert.load_content_encoder(ContentEncoder((3,), 8), ref, "enc_c/")
    message = str(error.value)
    assert "missing keys (22):\n  conv.0.model.1.weight" in message
    assert "unexpected keys (40):\n  convA.0.model.1.bias" in message
    with pytest.raises(ValueError, match=r"decA2.0.model.0.weight: found shape \(48, 24, 3, 3\)"):
        convert.load_generator(Generator((3, 3), 8, 4), ref, "gen/")
    with pytest.raises(TypeError, match="enc_c: no DRIT loader for Dense"):
        convert.load_networks({"enc_c": keras.layers.Dense(2)}, ref)


def _normalize(x):
    return x / np.linalg.norm(x)


def _drit_spectral_state(weight_orig):
    """DRIT's spectral-norm entries after a training-mode call: `weight_u` and the `weight`
    buffer (`weight_orig / sigma`), from a random starting `u`."""
    matrix = weight_orig.reshape(len(weight_orig), -1).astype("float64")
    v = _normalize(matrix.T @ _normalize(rng.normal(size=len(weight_orig))))
    u = _normalize(matrix @ v)
    return u.astype("float32"), (weight_orig / (u @ matrix @ v)).astype("float32")


def test_spectral_norm_uses_drits_weight_buffer_then_its_power_iteration():
    width, n_layer = 2, 6
    state, plain = {}, {}
    for i in range(n_layer + 1):
        key = f"model.{i}.model.1" if i < n_layer else f"model.{i}"
        shape = (width * 2**i, 3 if i == 0 else width * 2 ** (i - 1), 3, 3)
        if i == n_layer:
            shape = (1, width * 2 ** (i - 1), 1, 1)
        weight_orig = rng.normal(0, 0.2, shape).astype("float32")
        weight_u, weight = _drit_spectral_state(weight_orig)
        bias = rng.normal(size=shape[0]).astype("float32")
        state.update({f"{key}.weight_orig": weight_orig, f"{key}.weight_u": weight_u,
                      f"{key}.weight": weight, f"{key}.bias": bias})
        plain.update({f"{key}.weight": weight, f"{key}.bias": bias})
    spectral = domain_discriminator(1, width, spectral_norm=True)
    reference = domain_discriminator(1, width)
    convert.load_domain_discriminator(spectral, state)
    convert.load_domain_discriminator(reference, plain)
    images = _images(size=64)
    _assert_close(spectral(images)[0], np.asarray(reference(images)[0]), "eval mode")
    spectral(images, training=True)
    for i, block in enumerate(spectral.scales[0]):
        key = f"model.{i}.model.1" if i < n_layer else f"model.{i}"
        matrix = state[f"{key}.weight_orig"].reshape(block.conv.filters, -1).astype("float64")
        u = _normalize(matrix @ _normalize(matrix.T @ state[f"{key}.weight_u"]))
        np.testing.assert_allclose(block.conv.u, u, atol=1e-5, err_msg=key)


@pytest.mark.parametrize(
    "layer_cls, init, inputs, call_kwargs, output_shape",
    [
        (ContentEncoder, dict(channels=(3, 1), width=2), _images(), dict(branch=0),
         (2, 4, 4, 8)),
        (ContentEncoder, dict(channels=(3, 1), width=2), _images(channels=1), dict(branch=1),
         (2, 4, 4, 8)),
        (AttributeEncoder, dict(channels=(3, 3), attribute_dim=3, width=2), _images(size=32),
         dict(branch=1), [(2, 3), (2, 3)]),
        (AttributeEncoder, dict(channels=(3, 3), attribute_dim=3, width=2, variational=False),
         _images(size=32), {}, (2, 3)),
        (AttributeEncoder, dict(channels=(3,), width=2, variational=False, num_domains=3),
         _images(size=32), dict(domain_code=_codes([0, 2])), (2, 8)),
        (Generator, dict(channels=(3, 1), width=2, attribute_dim=3),
         _images(size=4, channels=8), dict(attribute=_images(size=1).reshape(2, 3), branch=1),
         (2, 16, 16, 1)),
        pytest.param(
            Generator, dict(channels=(3, 1), width=2, attribute_dim=3, concat=False),
            _images(size=4, channels=8), dict(attribute=_images(size=1).reshape(2, 3)),
            (2, 16, 16, 3), marks=pytest.mark.slow),
        pytest.param(
            Generator, dict(channels=(3,), width=2, attribute_dim=3, num_domains=2),
            _images(size=4, channels=8),
            dict(attribute=_images(size=1).reshape(2, 3), domain_code=_codes([1, 0], 2),
                 return_features=True),
            [(2, 4, 4, 13), (2, 8, 8, 8), (2, 16, 16, 3)], marks=pytest.mark.slow),
        (Generator, dict(channels=(3,), width=2, concat=False, num_domains=2),
         _images(size=4, channels=8),
         dict(attribute=rng.normal(size=(2, 8)).astype("float32"),
              domain_code=_codes([1, 0], 2), return_features=True),
         [(2, 4, 4, 8), (2, 8, 8, 4), (2, 16, 16, 3)]),
        (DownsamplingResidualBlock, dict(filters=5), _images(size=8, channels=4), {},
         (2, 4, 4, 5)),
        (AttributeResidualBlock, {}, [_images(size=4, channels=4), _images(size=1).reshape(2, 3)],
         {}, (2, 4, 4, 4)),
        (ContentDiscriminator, dict(width=2, kernel_size=3, num_strided=2), _images(channels=8),
         {}, (2,)),
        (ContentDiscriminator, dict(width=2, kernel_size=3, num_strided=2, num_domains=3),
         _images(channels=8), {}, (2, 3)),
        (MultiDomainDiscriminator, dict(num_domains=3, crop_size=128, width=2),
         _images(size=128), {}, [(2, 4, 4, 1), (2, 3)]),
    ],
)
def test_layer_contract(layer_cls, init, inputs, call_kwargs, output_shape):
    run_layer_test(layer_cls, init, inputs, call_kwargs=call_kwargs,
                   expected_output_shape=output_shape)


@pytest.mark.parametrize("num_scales, shapes", [(3, [(2, 4, 4, 1), (2, 2, 2, 1), (2, 1, 1, 1)]),
                                                (1, [(2, 1, 1, 1)])])
def test_domain_discriminators_are_ms_image_discriminators(num_scales, shapes, tmp_path):
    discriminator = domain_discriminator(num_scales, width=2)
    assert isinstance(discriminator, MsImageDiscriminator)
    config = {key: discriminator.get_config()[key] for key in (
        "n_layer", "kernel_size", "negative_slope", "pad_type", "dim", "spectral_norm")}
    assert config == {"n_layer": 6 if num_scales == 1 else 4, "kernel_size": 3 if num_scales == 1
                      else 4, "negative_slope": 0.01, "pad_type": "reflect", "dim": 2,
                      "spectral_norm": False}
    run_layer_test(MsImageDiscriminator, discriminator.get_config(), _images(size=64),
                   expected_output_shape=shapes)
    spectral = domain_discriminator(num_scales, width=2, spectral_norm=True)
    run_model_saving_test(spectral, _images(size=64), tmp_path)
    assert all(block.conv.spectral_norm for blocks in spectral.scales for block in blocks)


@pytest.mark.slow
def test_parameter_counts_at_the_reference_defaults():
    # Counted with the reference modules (HsinYingLee/DRIT src/networks.py, HsinYingLee/MDMM
    # networks.py) in PyTorch 2: sum(p.numel() for p in net.parameters()), with the default
    # options: 3 channels, nz 8, 216 x 216 crops, MDMM 3 domains.
    image, content = (None, 216, 216, 3), (None, 54, 54, 256)
    networks = {
        "E_content": (ContentEncoder(), None, 9_018_112),
        "E_attr_concat": (AttributeEncoder(), None, 2_688_160),
        "E_attr": (AttributeEncoder(variational=False), None, 5_529_872),
        "G_concat": (Generator(), None, 9_564_710),
        "G": (Generator(concat=False), None, 17_146_374),
        "MultiScaleDis": (domain_discriminator(), image, 8_271_171),
        "MultiScaleDis sn": (domain_discriminator(spectral_norm=True), image, 8_271_171),
        "Dis": (domain_discriminator(1), image, 25_149_057),
        "Dis_content": (ContentDiscriminator(), content, 10_683_649),
        "MD_E_content": (ContentEncoder((3,)), None, 5_099_136),
        "MD_E_attr_concat": (AttributeEncoder((3,), num_domains=3), None, 1_347_152),
        "MD_E_attr": (AttributeEncoder((3,), variational=False, num_domains=3), None, 2_774_344),
        "MD_G_multi_concat": (Generator((3,), num_domains=3), None, 5_465_273),
        "MD_G_multi": (Generator((3,), concat=False, num_domains=3), None, 8_573_955),
        "MD_Dis": (MultiDomainDiscriminator(), image, 15_737_472),
        "MD_Dis_content": (ContentDiscriminator(num_domains=3), content, 10_684_163),
    }
    counts = {}
    for name, (network, shape, _) in networks.items():
        network.build(shape)
        counts[name] = sum(int(np.prod(v.shape)) for v in network.trainable_variables)
    assert counts == {name: count for name, (_, _, count) in networks.items()}


def test_branches_have_their_own_weights():
    encoder = ContentEncoder((3, 3), 2)
    encoder.build()
    shared = {id(v) for v in encoder.shared.trainable_variables}
    branches = [{id(v) for v in b.trainable_variables} for b in encoder.branches]
    assert not branches[0] & branches[1] and not shared & (branches[0] | branches[1])
    assert len(encoder.trainable_variables) == sum(map(len, branches)) + len(shared)
    images = _images()
    assert not np.allclose(encoder(images, branch=0), encoder(images, branch=1))


def test_content_discriminator_sizes():
    discriminator = ContentDiscriminator(2)
    assert (discriminator.min_input_size, discriminator.max_input_size) == (53, 60)
    assert discriminator(_images(size=53, channels=8)).shape == (2,)
    assert discriminator(_images(size=61, channels=8)).shape == (8,)  # view(-1) of 2 x 2 maps
    with pytest.raises(ValueError, match="at least 53x53 .images of at least 209x209., got 52x52"):
        ContentDiscriminator(2)(_images(size=52, channels=8))
    with pytest.raises(ValueError, match="53 to 60 pixels .* got 61x61"):
        ContentDiscriminator(2, num_domains=3)(_images(size=61, channels=8))
    small = ContentDiscriminator(2, kernel_size=3, num_strided=2)
    assert (small.min_input_size, small.max_input_size) == (13, 16)


def test_mdmm_networks_need_a_domain_code_and_one_branch():
    with pytest.raises(ValueError, match="needs a domain_code"):
        Generator((3,), 2, num_domains=2)(_images(size=4, channels=8), np.zeros((2, 8)))
    with pytest.raises(ValueError, match="needs a domain_code"):
        AttributeEncoder((3,), width=2, num_domains=2)(_images(size=32))
    with pytest.raises(ValueError, match="one branch"):
        AttributeEncoder((3, 3), num_domains=2)


def test_serialized_names_do_not_collide_with_munits():
    """DRIT's `ContentEncoder` and MUNIT's share a class name: each is registered under its
    own package, so a saved config rebuilds the right one whichever was imported last."""
    import keras

    from keras_i2i.models import munit

    encoder = ContentEncoder((3, 1), 2)
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder))
    assert type(rebuilt) is ContentEncoder and rebuilt.channels == encoder.channels
    assert keras.saving.get_registered_object("keras_i2i>ContentEncoder") is munit.ContentEncoder
