"""vid2vid's model: the reference's losses, chunks and schedule, streaming generation, the
served step, presets, coarse-to-fine loading, XLA, mixed precision and JAX."""

import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_i2i.data import synthetic
from keras_i2i.layers import FlowWarp
from keras_i2i.models.pix2pixhd import EpochLinearDecay, Pix2PixHD
from keras_i2i.models.vid2vid import FixCoarseScales, GrowingClips, Vid2Vid
from keras_i2i.models.vid2vid.model import chain_flows, flow_confidence, temporal_groups
from keras_i2i.models.vid2vid.presets import PRESETS
from tests.testing import assert_signatures_shown, saved_model_cli_run

# 5 labels + instance edges, foreground classes 2 and 3, 16 x 16 frames; temporal
# discriminators on frame pairs 1 and 2 apart.
TINY = dict(label_nc=synthetic.NUM_CLASSES, use_instance=True, fg=True, fg_labels=(2, 3), ngf=4,
            n_downsample_G=1, n_blocks=1, n_blocks_local=1, ndf=4, n_layers_D=1, num_D=1,
            n_frames_D=2, lambda_vgg=0.0)


@pytest.fixture(scope="module")
def tiny():
    """A `Vid2Vid(**TINY)` for the tests that only check inputs (building one takes a second)."""
    return Vid2Vid(**TINY)


def _clip(frames=5, size=16, batch=1, seed=0):
    dataset = synthetic.videos(batch, size=size, frames=frames, batch_size=batch,
                               shuffle=False, seed=seed)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def _reference_groups(n_frames_D, n_scales_temporal, chunk, total):
    """The reference's `get_skipped_frames` on frame numbers: per step, per scale, the
    groups of the frames kept so far (the last `n_frames_D^(S - 1) (n_frames_D - 1)`) and the
    step's new ones."""
    kept, steps = [], []
    for first in range(0, total, chunk):
        frames = kept + list(range(first, first + chunk))
        per_scale = []
        for scale in range(n_scales_temporal):
            spacing = n_frames_D**scale
            span = spacing * (n_frames_D - 1)
            count = min(len(frames) - span, chunk)
            end = len(frames)
            per_scale.append([frames[end - span - t - 1 : end - t : spacing]
                              for t in range(0, max(count, 0), n_frames_D)])
        steps.append(per_scale)
        kept = frames[-n_frames_D ** (n_scales_temporal - 1) * (n_frames_D - 1):]
    return steps


@pytest.mark.parametrize("n_frames_D, n_scales_temporal, chunk, total",
                         [(3, 2, 6, 24), (3, 3, 1, 30), (3, 2, 4, 12), (2, 2, 2, 6)])
def test_temporal_groups_are_the_reference_groups(n_frames_D, n_scales_temporal, chunk, total):
    expected = _reference_groups(n_frames_D, n_scales_temporal, chunk, total)
    for step, per_scale in enumerate(expected):
        for scale, groups in enumerate(per_scale):
            assert temporal_groups((step + 1) * chunk, chunk, n_frames_D, scale,
                                   n_scales_temporal) == groups


def test_temporal_groups_of_a_first_chunk():
    # 6 frames at once (cityscapes_512's first chunk): two triplets of neighbours; triplets
    # 3 frames apart need 7 frames.
    assert temporal_groups(6, 6, 3, 0, 2) == [[3, 4, 5], [0, 1, 2]]
    assert temporal_groups(6, 6, 3, 1, 2) == []
    assert temporal_groups(7, 1, 3, 1, 2) == [[0, 3, 6]]


def test_clip_plan_follows_the_reference_schedule():
    model = Vid2Vid(**TINY)
    plans = {}
    for total, per_step in ((6, 12), (4, 4)):  # cityscapes_512, cityscapes_1024
        model.n_frames_total, model.max_frames_per_step = total, per_step
        for stage in range(4):
            model.clip_stage = stage
            plans[total, per_step, stage] = model.clip_plan(30)
    assert plans == {(6, 12, 0): (6, 6), (6, 12, 1): (12, 12), (6, 12, 2): (24, 12),
                     (6, 12, 3): (24, 12), (4, 4, 0): (4, 4), (4, 4, 1): (8, 4),
                     (4, 4, 2): (16, 4), (4, 4, 3): (28, 4)}
    model.clip_stage = 0
    assert model.clip_plan(4) == (2, 2)
    with pytest.raises(ValueError, match="clips of at least n_frames_G = 3 frames, got 2"):
        model.clip_plan(2)


def test_chained_flows_compose_by_warping():
    warp = FlowWarp()
    x = np.arange(32, dtype="float32")[None, None, :, None] * np.ones((1, 8, 32, 1), "float32")
    scaling = np.concatenate([0.1 * x, np.zeros_like(x)], -1)  # frame k-1 -> k-2
    shift = np.broadcast_to(np.array([2.0, 0.0], "float32"), (1, 8, 32, 2))  # frame k -> k-1
    chained = ops.convert_to_numpy(chain_flows([scaling, shift], warp))
    np.testing.assert_allclose(chained[..., :20, 0], 2 + 0.1 * (x[..., :20, 0] + 2), rtol=1e-6)
    np.testing.assert_array_equal(chained[..., 1], 0)

    # On the synthetic videos: frame t-2 warped by the chained exact flows is closer to frame t.
    clip = _clip(frames=8, size=32, batch=4)
    image, flow = clip["image"], clip["flow"]
    chained = chain_flows([flow[:, 4], flow[:, 5]], warp)
    warped_error = np.abs(warp([image[:, 4], chained]) - image[:, 6]).mean()
    assert warped_error < 0.75 * np.abs(image[:, 4] - image[:, 6]).mean()
    confidence = ops.convert_to_numpy(flow_confidence(image[:, 6], image[:, 4], chained, warp))
    unwarped = ops.convert_to_numpy(flow_confidence(image[:, 6], image[:, 4], 0 * chained, warp))
    assert confidence.shape == (4, 32, 32, 1) and set(np.unique(confidence)) == {0.0, 1.0}
    assert confidence.mean() > unwarped.mean() + 0.02


def _lsgan(outputs, target):
    return sum(np.mean((np.asarray(scale[-1]) - target) ** 2) for scale in outputs)


def _features(real, fake, n_layers_D):
    return sum(1 / len(fake) * 4 / (n_layers_D + 1) * np.mean(np.abs(np.asarray(f) - np.asarray(r)))
               for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1]))


@pytest.mark.parametrize("no_first_img", [False, True])
def test_chunk_losses_are_the_reference_losses(no_first_img):
    """One chunk of 3 frames, every loss written out as `Vid2VidModelD.forward` computes it:
    masked L1s with FlowNet's confidence, D_I on the frame and the hallucinated frame (the
    real one's loss twice), D_V on neighbours and on frames 2 apart with chained flows."""
    model = Vid2Vid(**TINY, lambda_feat=2.0, lambda_F=3.0, lambda_T=5.0, n_scales_spatial=2,
                    no_first_img=no_first_img)
    batch = _clip()
    clip = model._training_clip(batch)
    image, flow, condition = (np.asarray(clip[key]) for key in ("image", "flow", "condition"))
    previous = [[image[:, t] for t in (0, 1)]]
    previous.append([ops.convert_to_numpy(model.generator.downsample(x)) for x in previous[0]])
    if no_first_img:
        previous = [[0 * x for x in scale] for scale in previous]
    losses, state = model.chunk_losses(clip, [2, 3, 4], {"previous": previous, "fakes": {}})

    warp, gen, frames = model.warp, model.generator, []
    for t in (2, 3, 4):
        window = np.concatenate(list(condition[0, t - 2 : t + 1]), axis=-1)[None]
        out = gen({"label": window, "prev_images": [np.concatenate(p, -1) for p in previous]},
                  training=True, use_raw_only=no_first_img and t == 2)
        frames.append({key: np.asarray(out[key])
                       for key in ("image", "image_raw", "flow", "weight")})
        previous = [p[1:] + [np.asarray(x)] for p, x in zip(previous, out["image_pyramid"])]
    fake, raw, flows, weights = (np.concatenate([f[key] for f in frames])
                                 for key in ("image", "image_raw", "flow", "weight"))
    real, real_prev, ref = image[0, 2:5], image[0, 1:4], flow[0, 1:4]
    conf = (np.sum((real - np.asarray(warp([real_prev, ref]))) ** 2, -1, keepdims=True)
            < 0.02).astype("float32")
    fake_prev = np.concatenate([image[:, 1], fake[:2]])
    expected = {
        "f_flow": 3.0 / 2 * np.mean(np.abs((flows - ref) * conf)),
        "f_warp": 5.0 * np.mean(np.abs((np.asarray(warp([real_prev, flows])) - real) * conf)),
        "g_warp": 5.0 * np.mean(np.abs((fake - np.asarray(warp([fake_prev, ref]))) * conf)),
    }
    if no_first_img:
        expected["w"] = np.mean(weights * conf)
        np.testing.assert_array_equal(frames[0]["image"], frames[0]["image_raw"])
    d_real = model.discriminator(np.concatenate([condition[0, 2:5], real], -1), training=True)
    expected.update(g_gan=0.0, g_feat=0.0, d_real=2 * _lsgan(d_real, 1.0), d_fake=0.0)
    for generated in (fake, raw):
        d_fake = model.discriminator(np.concatenate([condition[0, 2:5], generated], -1),
                                     training=True)
        expected["g_gan"] += _lsgan(d_fake, 1.0)
        expected["d_fake"] += _lsgan(d_fake, 0.0)
        expected["g_feat"] += 2.0 * _features(d_real, d_fake, 1)
    # D_V^0 on frames (3, 4) with the flow of 4; D_V^1 on (2, 4) with the flows of 3, 4 chained.
    chained = np.asarray(chain_flows([flow[:, 2], flow[:, 3]], warp))
    for s, (first, flows_in) in enumerate(((3, flow[:, 3]), (2, chained))):
        real_in = np.concatenate([image[:, first], image[:, 4], flows_in / 20], -1)
        fake_in = np.concatenate([fake[first - 2 : first - 1], fake[2:], flows_in / 20], -1)
        d_real, d_fake = (model.temporal_discriminators[s](x, training=True)
                          for x in (real_in, fake_in))
        expected.update({f"g_t_gan{s}": _lsgan(d_fake, 1.0), f"d_t_real{s}": _lsgan(d_real, 1.0),
                         f"d_t_fake{s}": _lsgan(d_fake, 0.0),
                         f"g_t_feat{s}": 2.0 * _features(d_real, d_fake, 1)})
    expected["g_total"] = sum(v for k, v in expected.items() if k[0] in "gfw")
    expected["d_total"] = 0.5 * (expected["d_real"] + expected["d_fake"])
    for s in (0, 1):
        expected[f"d_t_total{s}"] = 0.5 * (expected[f"d_t_real{s}"] + expected[f"d_t_fake{s}"])
    assert sorted(losses) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(losses[name], value, rtol=2e-5, atol=1e-7, err_msg=name)
    assert sorted(state["fakes"]) == [3, 4]  # n_frames_D^(2 - 1) (n_frames_D - 1) kept
    np.testing.assert_allclose(state["previous"][0][-1], fake[2:], atol=1e-6)


def test_fit_steps_each_network_once_per_chunk():
    """A 6-frame clip: 4 frames in 2 chunks, so 2 steps of the generator and D_I; D_V^1 (frames
    2 apart) sees frames in the second chunk only."""
    model = Vid2Vid(**TINY, n_frames_total=4, max_frames_per_step=2)
    model.compile(run_eagerly=True)
    before = {group: [v.numpy().copy() for v in variables]
              for group, variables in model.optimizer_groups().items()}
    history = model.fit(tf.data.Dataset.from_tensors(_clip(frames=6)), epochs=1, verbose=0)
    assert set(history.history) == set(model.loss_names())
    assert all(np.isfinite(v[0]) for v in history.history.values())
    iterations = {g: int(o.iterations.numpy()) for g, o in model.optimizers.items()}
    assert iterations == {"generator": 2, "discriminator": 2, "temporal_discriminator0": 2,
                          "temporal_discriminator1": 1}
    for group, variables in model.optimizer_groups().items():
        assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before[group], variables))


@pytest.mark.parametrize("change, message", [
    (lambda b: b.pop("flow"), "reference flow 'flow' .* keras_i2i.data.with_flow"),
    (lambda b: b.update(flow=b["flow"][:, 1:]),
     r"flow has shape \(1, 3, 16, 16, 2\), expected \(1, 4, 16, 16, 2\)"),
    (lambda b: b.update(label=b["label"] + 4), r"labels must be ids in 0..4 \(label_nc 5\)"),
    (lambda b: b.update({k: v[:, : 2 - (k == "flow")] for k, v in b.items()}),
     "clips of at least n_frames_G = 3 frames, got 2"),
    (lambda b: b.update({k: v[:, :, :15] for k, v in b.items()}),
     r"H and W multiples of 2 \(size_multiple\), got 15x16"),
])
def test_training_refuses_bad_clips_in_one_line(tiny, change, message):
    batch = _clip()
    change(batch)
    with pytest.raises(ValueError, match=message) as raised:
        tiny.train_step(batch)
    assert "\n" not in str(raised.value)


def test_generate_streams_the_frames_of_call_in_bounded_memory():
    """The frames `call` generates from the same first frames; over 30 frames read lazily,
    every step is given state of one size and no yielded frame is kept."""
    model = Vid2Vid(**TINY, n_scales_spatial=2)
    clip = _clip(frames=6)
    video = list(model.generate(clip["label"][0], first_frames=clip["image"][0, :2],
                                instance_video=clip["instance"][0]))
    assert len(video) == 6
    np.testing.assert_array_equal(video[:2], clip["image"][0, :2])
    np.testing.assert_allclose(video[2:], model(clip)[0], atol=1e-5)

    sizes, step = [], model.next_frame

    def recording(label, previous, use_raw_only=False):
        sizes.append(int(np.prod(label.shape)) + sum(int(np.prod(p.shape)) for p in previous))
        return step(label, previous, use_raw_only)

    def labels(count):  # read lazily, back and forth through the clip
        for t in range(count):
            yield clip["label"][0, abs((t + 5) % 10 - 5)]

    model.next_frame = recording
    stream = model.generate(labels(30), first_frames=clip["image"][0, :2],
                            instance_video=(clip["instance"][0, 0] for _ in range(30)))
    frames = [weakref.ref(frame) for frame in stream]
    assert len(frames) == 30 and len(sizes) == 28 and len(set(sizes)) == 1
    assert sum(frame() is not None for frame in frames) <= 2  # the first frames, given


def test_first_frames_from_a_single_image_model():
    model = Vid2Vid(**TINY)
    single = Pix2PixHD(label_nc=synthetic.NUM_CLASSES, ngf=4, n_downsample_global=1,
                       n_blocks_global=1, ndf=4, n_layers_D=1, num_D=1, lambda_vgg=0.0)
    clip = _clip(frames=4)
    video = list(model.generate(clip["label"][0], instance_video=clip["instance"][0],
                                first_frame_model=single))
    expected = single.translate(clip["label"][0, :2], clip["instance"][0, :2])
    np.testing.assert_allclose(video[:2], expected, atol=1e-6)
    assert len(video) == 4


def test_no_first_img_starts_with_the_hallucinated_frame():
    """The first frame is the hallucinated one at every spatial scale, no warped blank frame
    mixed in; the video starts at label frame n_frames_G - 1."""
    model = Vid2Vid(**TINY, no_first_img=True, n_scales_spatial=2)
    clip = _clip(frames=4)
    video = list(model.generate(clip["label"][0], instance_video=clip["instance"][0]))
    assert len(video) == 2
    window = np.concatenate(list(model.encode_frames(clip["label"][:, :3],
                                                     clip["instance"][:, :3])[0]), -1)[None]
    first = model.next_frame(window, model._start(None, window), use_raw_only=True)
    np.testing.assert_allclose(video[0], first["image_raw"][0], atol=1e-6)
    np.testing.assert_array_equal(first["image"], first["image_raw"])
    composed = model.next_frame(window, model._start(None, window))
    assert not np.allclose(composed["image"], composed["image_raw"], atol=1e-3)
    assert "w" in model.loss_names()


@pytest.mark.parametrize("call, message", [
    (lambda m, c: m.generate(c["label"][0, :2], c["image"][0, :2], c["instance"][0, :2]),
     "label_video has 2 frames, expected at least n_frames_G = 3"),
    (lambda m, c: m.generate([c["label"][0, 0], c["label"][0, 1], np.zeros((16, 32), "int32")],
                             c["image"][0, :2], c["instance"][0]),
     "label_video frame 2 is 16x32, expected 16x16 as frame 0"),
    (lambda m, c: m.generate(c["label"][0] + 3, c["image"][0, :2], c["instance"][0]),
     r"label_video frame 0: labels must be ids in 0..4 \(label_nc 5\), got ids 3\.\."),
    (lambda m, c: m.generate(c["label"][0], c["image"][0, :1], c["instance"][0]),
     r"first_frames must be \(2, H, W, 3\) frames, got shape \(1, 16, 16, 3\)"),
    (lambda m, c: m.generate(c["label"][0], instance_video=c["instance"][0]),
     "needs the first n_frames_G - 1 = 2 frames: pass first_frames or first_frame_model"),
    (lambda m, c: m.generate(c["label"][0], c["image"][0, :2]), "pass instance_video"),
    (lambda m, c: m.generate(c["label"][0], c["image"][0, :2], c["instance"][0, :3]),
     "instance_video has 3 frames, fewer than label_video"),
    (lambda m, c: m.generate(c["label"][0].astype("float32"), c["image"][0, :2],
                             c["instance"][0]), "label_video frame 0 must be int"),
])
def test_generate_names_bad_input_in_one_line(tiny, call, message):
    with pytest.raises(ValueError, match=message) as raised:
        list(call(tiny, _clip()))
    assert "\n" not in str(raised.value)


def test_served_step_runs_as_a_loop():
    """`next_frame` traced as exported, fed back its outputs for 3 frames: the frames
    `generate` makes; a bad label id stops the graph with a message."""
    from keras_i2i.export import check_inputs

    model = Vid2Vid(**TINY, n_scales_spatial=2)
    clip = _clip(frames=5)
    expected = list(model.generate(clip["label"][0], clip["image"][0, :2], clip["instance"][0]))
    endpoint, inputs = model.serving_endpoints()["next_frame"]
    assert [i.name for i in inputs] == ["label", "instance", "prev_images", "prev_images_1"]
    step = tf.function(lambda *tensors: endpoint(*check_inputs(inputs, tensors)))
    previous = [clip["image"][:, :2]]
    previous.append(np.stack([model.generator.downsample(previous[0][:, t]) for t in (0, 1)], 1))
    for t in (2, 3, 4):
        window = [clip[key][:, t - 2 : t + 1] for key in ("label", "instance")]
        outputs = step(*window, *previous)
        # The graph's kernels round differently from the eager ones, frame after frame.
        np.testing.assert_allclose(outputs["image"][0], expected[t], atol=5e-5)
        previous = [np.concatenate([p[:, 1:], np.asarray(outputs[key])[:, None]], 1)
                    for p, key in zip(previous, ("image", "image_1"))]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids must be in 0..4"):
        step(clip["label"][:, :3] + 5, clip["instance"][:, :3], *previous)


@pytest.mark.slow
def test_export_serves_the_step_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    model = Vid2Vid(**TINY, no_first_img=True)
    clip = _clip(frames=4)
    expected = list(model.generate(clip["label"][0], instance_video=clip["instance"][0]))
    model.export(tmp_path / "served", verbose=False)
    np.savez(tmp_path / "clip.npz", **clip)
    script = f"""
import numpy as np, tensorflow as tf
served = tf.saved_model.load({str(tmp_path / "served")!r})
clip = np.load({str(tmp_path / "clip.npz")!r})
first = served.signatures["first_frame"](label=clip["label"][:, :3],
                                         instance=clip["instance"][:, :3])["image"]
prev = np.stack([np.zeros_like(first), first], 1)
second = served.signatures["serving_default"](label=clip["label"][:, 1:4],
    instance=clip["instance"][:, 1:4], prev_images=prev)["image"]
np.save({str(tmp_path / "out.npy")!r}, np.stack([first[0], second[0]]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert_signatures_shown(tmp_path / "served", model)
    window = {key: clip[key][:, 1:4] for key in ("label", "instance")}
    previous = np.stack([np.zeros_like(served[:1]), served[:1]], 1)
    cli = saved_model_cli_run(tmp_path / "served", "next_frame",
                              {**window, "prev_images": previous}, tmp_path)
    assert sorted(cli) == ["flow", "image", "image_raw", "weight"]
    np.testing.assert_allclose(cli["image"][0], expected[1], atol=1e-5)


def test_schedule_callbacks_follow_the_reference_epochs():
    model = Vid2Vid(**TINY, n_scales_spatial=2, niter=1, niter_decay=2, niter_step=2,
                    niter_fix_global=1)
    growing, decay, fixing = model.training_callbacks()
    assert (type(growing), type(decay), type(fixing)) == (GrowingClips, EpochLinearDecay,
                                                          FixCoarseScales)
    growing.set_model(model)
    stages = []
    for epoch in range(5):
        growing.on_epoch_begin(epoch)
        stages.append(model.clip_stage)
    assert stages == [0, 0, 1, 1, 2]
    fixing.set_model(model)
    assert fixing._coarse_levels() == model.generator.levels[:1]
    assert sorted(decay.learning_rates(2)) == ["discriminator", "generator"]  # not D_V's
    np.testing.assert_allclose([decay.learning_rates(epoch)["generator"] for epoch in range(3)],
                               [2e-4, 2e-4, 1e-4], rtol=1e-6)
    with pytest.raises(ValueError, match="niter_fix_global needs coarser scales"):
        Vid2Vid(**TINY, niter_fix_global=1)


@pytest.mark.slow
def test_schedule_grows_clips_fixes_coarse_scales_and_decays_rates():
    """niter 1, niter_decay 2, niter_step 1, niter_fix_global 1 over 3 one-clip epochs: 1, 2,
    then 3 frames (the clip's all) one per step; G0 fixed in epoch 1, then a fresh generator
    optimizer; the generator's and D_I's rates decay, the temporal ones' do not."""
    model = Vid2Vid(**TINY, n_scales_spatial=2, n_frames_total=1, niter=1, niter_decay=2,
                    niter_step=1, niter_fix_global=1)
    model.compile(run_eagerly=True)
    callbacks = model.training_callbacks()
    assert [type(c) for c in callbacks] == [GrowingClips, EpochLinearDecay, FixCoarseScales]
    coarse = [w for w in model.generator.levels[0].weights if w.path.endswith("kernel")]
    record = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            record.append({
                "stage": model.clip_stage,
                "coarse_changed": any(not np.array_equal(b, w.numpy())
                                      for b, w in zip(start, coarse)),
                "iterations": [int(model.optimizers[g].iterations.numpy())
                               for g in ("generator", "discriminator")],
                "rates": [float(model.optimizers[g].learning_rate.numpy())
                          for g in ("generator", "discriminator", "temporal_discriminator0")],
            })

    start = [w.numpy().copy() for w in coarse]
    model.fit(tf.data.Dataset.from_tensors(_clip(frames=5)), epochs=3, verbose=0,
              callbacks=callbacks + [Record()])
    assert [r["stage"] for r in record] == [0, 1, 2]
    assert [r["coarse_changed"] for r in record] == [False, True, True]
    assert [r["iterations"] for r in record] == [[1, 1], [2, 3], [5, 6]]
    np.testing.assert_allclose([r["rates"] for r in record],
                               [[2e-4] * 3, [2e-4] * 3, [1e-4, 1e-4, 2e-4]], rtol=1e-6)
    assert model.generator.levels[0].trainable


def test_load_coarse_model_copies_scales_by_the_reference_names():
    small = dict(TINY, ndf=64, n_scales_temporal=1)
    coarse = Vid2Vid(**small)
    fine = Vid2Vid(**dict(small, num_D=2), n_scales_spatial=2)
    fine.load_coarse_model(coarse)
    for a, b in zip(coarse.generator.levels[0].weights, fine.generator.levels[0].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The coarse model's full resolution is the fine model's first downsampling.
    for source, target in ((coarse.discriminator, fine.discriminator),
                           (coarse.temporal_discriminators[0], fine.temporal_discriminators[0])):
        for a, b in zip(source.scales[0], target.scales[1]):
            np.testing.assert_array_equal(a.conv.kernel.numpy(), b.conv.kernel.numpy())
        assert not np.array_equal(source.scales[0][0].conv.kernel.numpy(),
                                  target.scales[0][0].conv.kernel.numpy())
    with pytest.raises(ValueError, match="fewer spatial scales than this one"):
        coarse.load_coarse_model(fine)
    with pytest.raises(ValueError, match="generator0 is not configured as generator0 here"):
        Vid2Vid(**dict(small, ngf=8), n_scales_spatial=2).load_coarse_model(coarse)


def test_presets_follow_the_reference_scripts():
    assert set(Vid2Vid.presets()) == {"cityscapes_512", "cityscapes_1024", "cityscapes_2048",
                                      "face", "pose", "synthetic"}
    for name, preset in PRESETS.items():
        assert name == "synthetic" or "scripts/" in preset["description"]
    street = {name: PRESETS[name]["config"] for name in PRESETS if name.startswith("city")}
    assert [(c["n_scales_spatial"], c["num_D"], c["lr"], c.get("niter_fix_global", 0))
            for c in street.values()] == [(1, 2, 2e-4, 0), (2, 3, 1e-4, 10), (3, 4, 5e-5, 5)]
    assert all(c["fg"] and c["fg_labels"] == (26,) and c["label_nc"] == 35 for c in
               street.values())
    assert PRESETS["pose"]["config"]["no_first_img"]
    assert PRESETS["face"]["config"]["input_nc"] == 15
    model = Vid2Vid.from_preset("synthetic")
    assert model.clip_plan(8) == (3, 3)
    assert model.clip_frames(model.niter + model.niter_decay) == 8
    assert Vid2Vid.from_config(model.get_config()).get_config() == model.get_config()


def test_preset_folder_round_trip(tmp_path):
    model = Vid2Vid(**TINY)
    clip = _clip(frames=4)
    expected = model(clip)
    model.save_to_preset(tmp_path)
    np.testing.assert_allclose(Vid2Vid.from_preset(tmp_path)(clip), expected, atol=1e-6)


def test_mixed_precision_step():
    keras.config.set_dtype_policy("mixed_float16")
    model = Vid2Vid(**TINY)
    model.compile(run_eagerly=True)
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer)
               for o in model.optimizers.values())
    assert model.generator.levels[0].compute_dtype == "float16"
    logs = model.train_on_batch(_clip(frames=4), return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())
    assert model(_clip(frames=4)).dtype == "float32"


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_fit_with_xla(policy):
    keras.config.set_dtype_policy(policy)
    model = Vid2Vid(**TINY, n_frames_total=2, max_frames_per_step=1)
    model.compile(jit_compile=True)
    history = model.fit(tf.data.Dataset.from_tensors(_clip(frames=4)).repeat(3), epochs=1,
                        verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    steps = {g: int(o.iterations.numpy()) for g, o in model.optimizers.items()}
    if policy == "float32":  # 2 chunks x 3 clips
        assert steps == {"generator": 6, "discriminator": 6, "temporal_discriminator0": 3,
                         "temporal_discriminator1": 0}
    else:  # first steps overflow in float16 until the loss scales are low enough
        assert 0 < steps["generator"] <= 6 and 0 < steps["discriminator"] <= 6


@pytest.mark.slow
def test_chunks_under_jax_step_like_tensorflow(tmp_path):
    """Two chunks (two steps of each network in one `fit` step) under JAX: TensorFlow's
    iterations, and its weights within the tolerance of two dependent steps."""
    from tests.test_backends import assert_same_step, case_arrays, run_under_jax
    from tests.backend_step import result, run_step

    config = dict(TINY, n_frames_total=4, max_frames_per_step=2)
    case = case_arrays(("Vid2Vid", config, _clip(frames=6)))
    expected = result(*run_step(case))
    actual = run_under_jax(case, tmp_path)
    for group, count in (("generator", 2), ("temporal_discriminator1", 1)):
        assert int(actual[f"optimizer/{group}/0"]) == count
    assert_same_step(case, expected, actual, tolerance=1e-2, rtol=1e-3)
