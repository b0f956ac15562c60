"""`keras-i2i demo`: the model logic of the app (no browser), and the app itself in a
headless Chromium (skipped without Gradio, Playwright's package or a Chromium; in CI, which
installs them, failed)."""

import importlib
import io
import os
import shutil
import socket

import keras
import numpy as np
import pytest
from PIL import Image

import keras_i2i
from keras_i2i import demo as demo_lib
from keras_i2i.cli import arguments
from keras_i2i.data.synthetic.datasets import scene_sample

# Chromium as the closed network and CI want it: nothing fetched, a throwaway profile
# (Playwright's launch makes a fresh user data dir), no sandbox (CI runs as root).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
# Of `local_model`: a stroke changes its image at most this many pixels away (its
# convolutions' reach: 7 + 3 (down) + 2 x 3 (a block) + 3 (up) + 7, in half-resolution steps
# where strided; measured 13).
REACH = 16


def local_model():
    """A tiny pix2pixHD whose image depends on the labels near each pixel only: batch norm
    (fixed statistics at inference, unlike instance norm's per-image ones) and Glorot weights
    (the reference's N(0, 0.02) makes images that hardly depend on the labels)."""
    keras.utils.set_random_seed(0)
    return keras_i2i.Pix2PixHD(
        label_nc=5, use_instance=True, ngf=8, n_downsample_global=1, n_blocks_global=1,
        norm="batch", ndf=8, num_D=1, n_layers_D=1, lambda_vgg=0.0, lambda_feat=0.0,
        kernel_initializer="glorot_uniform")


def synthetic_demo(model, size=(32, 32)):
    return demo_lib.Demo.of(model, "synthetic", size)


# ------------------------------------------------------------------ label maps and canvases


def test_colours_to_ids_inverts_colourize_at_any_canvas_size():
    _, colours = demo_lib.synthetic_palette()
    ids = scene_sample(3, size=32)["label"][..., 0]
    for scale in (1, 3, 4):
        canvas = demo_lib.colourize(ids, colours, scale)
        assert canvas.shape == (32 * scale, 32 * scale, 3) and canvas.dtype == np.uint8
        np.testing.assert_array_equal(demo_lib.colours_to_ids(canvas, colours, (32, 32)), ids)
    rgba = np.concatenate([demo_lib.colourize(ids, colours, 2),
                           np.full((64, 64, 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(demo_lib.colours_to_ids(rgba, colours, (32, 32)), ids)


def test_colours_to_ids_takes_the_majority_so_soft_brush_edges_make_no_other_class():
    _, colours = demo_lib.synthetic_palette()
    ids = np.zeros((8, 8), np.int32)
    ids[:, 4:] = 2  # sky | ball
    canvas = demo_lib.colourize(ids, colours, 4).astype(np.float32)
    # An antialiased edge: a column of sky-ball blends, which lie nearest to other classes.
    canvas[:, 15] = 0.5 * colours[0] + 0.5 * colours[2]
    labels = demo_lib.colours_to_ids(canvas.astype(np.uint8), colours, (8, 8))
    np.testing.assert_array_equal(labels, ids)


def test_instance_map_gives_each_region_of_a_thing_class_its_own_id():
    ids = np.array([[0, 2, 0, 2],
                    [1, 2, 1, 1],
                    [1, 1, 3, 2]])
    np.testing.assert_array_equal(demo_lib.instance_map(ids, (2, 3)), [
        [0, 2000, 0, 2001],
        [1, 2000, 1, 1],
        [1, 1, 3000, 2002]])


def test_read_label_file_reads_ids_and_colours(tmp_path):
    _, colours = demo_lib.synthetic_palette()
    ids = scene_sample(1, size=16)["label"][..., 0]
    Image.fromarray(ids.astype(np.uint8)).save(tmp_path / "ids.png")
    Image.fromarray(demo_lib.colourize(ids, colours, 2)).save(tmp_path / "colours.png")
    for name in ("ids.png", "colours.png"):
        np.testing.assert_array_equal(
            demo_lib.read_label_file(tmp_path / name, colours, (16, 16)), ids)
    Image.fromarray(np.full((4, 4), 7, np.uint8)).save(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"bad.png: expected label ids 0..4"):
        demo_lib.read_label_file(tmp_path / "bad.png", colours, (4, 4))


# ------------------------------------------------------------------ the models


def translate_calls(model, monkeypatch):
    """The arguments of each `model.translate` call, recorded (the calls run as usual)."""
    calls = []
    translate = model.translate

    def recorded(source, **options):
        calls.append((source, options))
        return translate(source, **options)

    monkeypatch.setattr(model, "translate", recorded)
    return calls


def test_spade_with_the_vae_samples_styles_by_seed_and_takes_a_style_image(monkeypatch):
    keras.utils.set_random_seed(0)
    model = keras_i2i.SPADE(label_nc=5, image_size=(32, 32), ngf=4, spade_hidden=8,
                            use_vae=True, z_dim=8, ndf=4, num_D=1, n_layers_D=1,
                            lambda_vgg=0.0, norm_G="spectralspadeinstance3x3")
    demo = synthetic_demo(model)
    assert (demo.size, demo.scale, demo.seeded) == ((32, 32), 8, True)
    assert demo.style_argument == "style_images" and not demo.instance_styles
    canvas = demo.scene(0)
    image = demo.generate(canvas, seed=1)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(demo.generate(canvas, seed=1), image)
    calls = translate_calls(model, monkeypatch)
    style = demo.style_example(0)
    assert style.shape == (32, 32, 3) and style.dtype == np.uint8
    assert demo.generate(canvas, seed=2, style_image=style).shape == image.shape
    labels, options = calls[0]
    sample = scene_sample(0, size=32)
    np.testing.assert_array_equal(labels, sample["label"][None, ..., 0])
    np.testing.assert_array_equal(options["instances"], demo_lib.instance_map(
        labels, keras_i2i.data.synthetic.THING_CLASSES))
    assert options["seed"] == 2 and options["style_images"].shape == (1, 32, 32, 3)
    np.testing.assert_allclose(options["style_images"][0], demo_lib.to_float(style, (32, 32)))
    assert -1 <= options["style_images"].min() < options["style_images"].max() <= 1


def test_spade_without_the_vae_has_no_style_controls():
    model = keras_i2i.SPADE(label_nc=5, image_size=(32, 32), ngf=4, spade_hidden=8, ndf=4,
                            num_D=1, n_layers_D=1, lambda_vgg=0.0)
    demo = synthetic_demo(model)
    assert not demo.seeded and demo.style_argument is None


def test_a_stroke_changes_the_image_only_within_the_models_reach():
    demo = synthetic_demo(local_model(), (64, 64))
    canvas = demo.scene(0)
    painted = canvas.copy()
    painted[4 * 30:4 * 32, 4 * 30:4 * 32] = demo.colours[3]  # 2x2 labels of block
    change = np.abs(demo.generate(painted).astype(int) - demo.generate(canvas)).max(-1)
    changed = np.nonzero(change[::4, ::4])
    assert changed[0].size
    assert min(changed[0].min(), changed[1].min()) >= 30 - REACH
    assert max(changed[0].max(), changed[1].max()) <= 31 + REACH


def test_pix2pixhd_objects_take_their_chosen_clusters():
    keras.utils.set_random_seed(0)
    model = keras_i2i.Pix2PixHD(label_nc=5, use_instance=True, instance_feat=True, feat_num=3,
                                nef=4, n_downsample_E=1, n_clusters=3, ngf=4,
                                n_downsample_global=1, n_blocks_global=1, ndf=4, num_D=1,
                                n_layers_D=1, lambda_vgg=0.0)
    model.cluster_centers.assign(np.random.default_rng(0).normal(size=(5, 3, 3)))
    model.cluster_counts.assign([1, 1, 3, 3, 3])
    demo = synthetic_demo(model)
    assert demo.seeded and demo.instance_styles and demo.style_argument is None
    canvas = demo.scene(2)
    objects = demo.objects(canvas, seed=0)
    labels, instances = demo.label_maps(canvas)
    assert {instance for _, instance, _, _ in objects} == set(np.unique(instances[labels >= 2]))
    name, instance, cluster, count = objects[0]
    assert name.startswith(demo.class_names[instance // 1000]) and count == 3
    other = (cluster + 1) % count
    chosen = dict((i, c) for _, i, c, _ in demo.objects(canvas, 0, {instance: other}))
    assert chosen[instance] == other
    image = demo.generate(canvas, seed=0)
    assert not np.array_equal(demo.generate(canvas, seed=0, choices={instance: other}), image)


@pytest.mark.parametrize("name", ["munit", "drit"])
def test_image_models_translate_the_painting_with_random_or_example_styles(name, monkeypatch):
    keras.utils.set_random_seed(0)
    if name == "munit":
        model = keras_i2i.MUNIT(dim=4, mlp_dim=8, n_res=1, dis_dim=4, dis_n_layer=2,
                                dis_num_scales=1)
    else:
        model = keras_i2i.DRIT.from_preset("synthetic", width=4)
    demo = demo_lib.Demo.of(model, "synthetic", (32, 32))
    assert not demo.reads_labels and demo.seeded
    assert demo.style_argument == ("style_images" if name == "munit" else "attribute_images")
    canvas = demo.scene(0)
    np.testing.assert_array_equal(  # the synthetic day scene, enlarged
        canvas[::8, ::8], demo_lib.to_uint8(scene_sample(0, size=32)["image"]))
    calls = translate_calls(model, monkeypatch)
    image = demo.generate(canvas, seed=3)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    night = demo.style_example(0)
    assert demo.generate(canvas, seed=3, style_image=night).shape == image.shape
    (source, options), (_, styled) = calls
    np.testing.assert_allclose(source[0], demo_lib.to_float(canvas, (32, 32)), atol=1e-6)
    assert options == {"seed": 3}
    assert styled[demo.style_argument].shape == (1, 32, 32, 3)


def test_the_demo_shows_the_label_and_image_models_only():
    with pytest.raises(ValueError,
                       match="The demo shows SPADE, Pix2PixHD, MUNIT, DRIT models, not Sequential"):
        demo_lib.Demo.of(keras.Sequential())


# ------------------------------------------------------------------ the default models


def test_default_preset_trains_once_into_the_cache(tmp_path, monkeypatch):
    from keras_i2i.cli import train

    calls = []

    def fake_train(args):
        calls.append(args)
        (tmp_path / "demo" / args.model / "preset").mkdir(parents=True)
        (tmp_path / "demo" / args.model / "preset" / "config.json").write_text("{}")

    monkeypatch.setenv("KERAS_I2I_CACHE", str(tmp_path))
    monkeypatch.setattr(train, "train", fake_train)
    run = demo_lib.default_preset("spade")
    assert run == str(tmp_path / "demo" / "spade")
    assert demo_lib.default_preset("spade") == run and len(calls) == 1
    args = calls[0]
    assert (args.model, args.preset, args.data, args.out) == ("spade", "synthetic",
                                                              "synthetic", run)
    assert dict(args.settings) == {"use_vae": True}
    with pytest.raises(ValueError, match="no default model of it; pass --preset"):
        demo_lib.default_preset("vid2vid")


def test_the_demo_command_line():
    args = arguments.parser().parse_args(["demo", "--model", "spade"])
    assert (args.preset, args.size, args.host, args.port) == (None, None, "127.0.0.1", 7860)
    args = arguments.parser().parse_args(
        ["demo", "--model", "pix2pixhd", "--preset", "p/", "--size", "64x128", "--port", "8000",
         "--host", "0.0.0.0"])
    assert (args.preset, args.size, args.host, args.port) == ("p/", (64, 128), "0.0.0.0", 8000)


# ------------------------------------------------------------------ in a browser


def missing(what):
    """Skips the test for want of `what`; fails it in CI (`CI` set), which installs it all."""
    (pytest.fail if os.environ.get("CI") else pytest.skip)(f"needs {what}")


def chromium():
    """The Chromium to drive: `$KERAS_I2I_CHROMIUM`, else one on the PATH."""
    path = os.environ.get("KERAS_I2I_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
        None)
    if path is None:
        missing("a Chromium (apt-get install chromium, or set KERAS_I2I_CHROMIUM)")
    return path


def imported(module, package):
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{package} (pip install keras-i2i[dev])")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_painting_a_stroke_in_the_browser_changes_the_image_there(monkeypatch):
    imported("gradio", "Gradio")
    sync_api = imported("playwright.sync_api", "Playwright's package")
    browser_path = chromium()
    demo = synthetic_demo(local_model(), (64, 64))
    painted = []  # the canvases the page sent, in order
    generate = demo.generate
    monkeypatch.setattr(demo, "generate",
                        lambda canvas, *args: painted.append(canvas) or generate(canvas, *args))
    app = demo_lib.build_app(demo)
    port = free_port()
    demo_lib.launch(app, port=port, block=False)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=browser_path, headless=True,
                                                 args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"http://127.0.0.1:{port}/")
            before, source = shown_output(page)
            page.locator("#paint-class input").click()
            page.get_by_role("option", name="block", exact=True).click()
            sync_api.expect(page.locator("#canvas button[aria-label=Color]")).to_have_css(
                "color", "rgb(%d, %d, %d)" % tuple(demo.colours[3]))
            draw_stroke(page, page.locator("#canvas canvas").first.bounding_box())
            page.locator("#generate").click()
            after, _ = shown_output(page, replacing=source)
            browser.close()
    finally:
        app.close()

    labels_before, _ = demo.label_maps(painted[0])
    labels_after, _ = demo.label_maps(painted[-1])
    stroke = labels_after != labels_before
    assert stroke.sum() >= 20 and (labels_after[stroke] == 3).all()  # painted with "block"
    change = np.abs(after.astype(int) - before).max(-1)[::demo.scale, ::demo.scale]
    assert change[stroke].mean() > 5  # the image changes where the stroke is...
    rows, columns = np.nonzero(stroke)
    near = np.zeros_like(stroke)
    near[max(0, rows.min() - REACH):rows.max() + REACH + 1,
         max(0, columns.min() - REACH):columns.max() + REACH + 1] = True
    assert (~near).mean() > 0.3 and not change[~near].any()  # ...and nowhere out of reach


def shown_output(page, replacing=None):
    """The output image once shown (another than the one at URL `replacing`): uint8
    (H, W, 3) as the page got it, and its URL."""
    page.wait_for_function(
        "old => { const img = document.querySelector('#output img');"
        " return img && img.complete && img.src !== old; }", arg=replacing)
    source = page.locator("#output img").get_attribute("src")
    image = Image.open(io.BytesIO(page.request.get(source).body()))
    return np.asarray(image.convert("RGB")), source


def draw_stroke(page, box):
    """A horizontal stroke with the mouse, below the middle of the canvas element (the image
    is shown centred, at least 80% of the element's height)."""
    y = box["y"] + 0.75 * box["height"]
    left = box["x"] + box["width"] / 2 - 0.15 * box["height"]
    page.mouse.move(left, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(left + 0.03 * step * box["height"], y, steps=2)
    page.mouse.up()
