"""The benchmark suite: every model's training step and inference over resolutions, batch
sizes, modes and backends, with peak memory, beside the reference PyTorch code in the same run.

    python benchmarks/run.py [--models spade munit ...] [--sizes 128 256 512] \
        [--batch-sizes 1 2] [--width 32] [--modes xla graph eager mixed] \
        [--backends tensorflow jax] [--conv-routes on off] \
        [--reference spade=SPADE pix2pixhd=pix2pixHD ...] \
        [--torch-python torchenv/bin/python] [--steps 3] [--out benchmarks/results/cpu]
    python benchmarks/run.py --plot benchmarks/results/cpu/results.json [more/results.json]

Each cell of the grid (model x (every square size at the first batch size, every batch size
at the first size) x backend x mode x convolution routes) is measured by
`steps.py` in a process of its own (so its peak memory is its own; see there what a step and
an inference are, and the models' presets); each (model, size, batch size) of a model given a
reference checkout is measured by `reference.py` in a process of `--torch-python`, just before
this package's cells, so the ratios (reference seconds / ours: above 1, ours is faster) come
from the same minutes. `--width` sets every model's base width (`ngf`, `dim`), DRIT's and
MDMM's excepted (their reference has fixed widths), whose batch sizes count pairs of
images per domain and iteration (their steps split an iteration's images in two; the
reference DRIT's default batch of 2 is one pair). `--conv-routes on off` times this
package's convolution routes (`keras_i2i/layers/conv_routes.py`) on and off in every cell
(`default`: as `keras-i2i tune-routes` measured on this machine, else off). A cell that
fails or runs past
`--timeout` is recorded with its error and the grid goes on.

Writes to `--out`: `results.json` (the machine, the options, a record per cell),
`results.md` (a table per backend, mode and routes: seconds per training step and per
image; peak memory over the process's after its imports (XLA's compilation included); the
ratios) and `results.png` (time and peak memory against
resolution, and against batch size when several are given).
`--plot RESULTS.json [MORE.json ...]` redraws the table and the figure from results files,
the later runs' cells replacing the first's of the same model, size, batch size and run
(`merged_runs` records their dates and machines).
"""

import argparse
import itertools
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
from keras_i2i.machine import processor  # noqa: E402  (imports neither Keras nor TensorFlow)
from timing import run_json  # noqa: E402

MODELS = ("spade", "pix2pixhd", "munit", "drit", "mdmm", "init", "vid2vid")
FIXED_WIDTH = ("drit", "mdmm")  # the reference code's widths are fixed
PAIRS = ("drit", "mdmm")  # batch sizes count pairs of images (the reference's batch of 2)
REFERENCES = ("spade", "pix2pixhd", "munit", "drit", "vid2vid")  # what reference.py builds
FIGURES = (("train", "s / training step"), ("infer", "s / image"))
GIB = 2**30


def ours(model, size, batch_size, width, backend, mode, routes, args):
    command = [sys.executable, str(HERE / "steps.py"), "--model", model, "--size", str(size),
               "--batch-size", str(batch_size), "--mode", mode, "--steps", str(args.steps)]
    if width:
        command += ["--width", str(width)]
    env = {"KERAS_BACKEND": backend, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if routes != "default":
        env["KERAS_I2I_CONV_ROUTES"] = routes
    return run_json(command, args.timeout, env)


def reference(model, size, batch_size, width, args):
    images = batch_size * (2 if model in PAIRS else 1)
    command = [args.torch_python, str(HERE / "reference.py"), "--model", model,
               "--src", args.reference[model], "--size", str(size), str(size),
               "--batch-size", str(images), "--steps", str(args.steps),
               "--device", args.reference_device]
    if width:
        command += ["--width", str(width)]
    return run_json(command, args.timeout)


def ratios(record):
    """Adds `ratio_train` and `ratio_infer` (reference seconds / ours) where both are."""
    theirs = record.get("reference") or {}
    for figure, _ in FIGURES:
        if record.get(f"{figure}_s") and theirs.get(f"{figure}_s"):
            record[f"ratio_{figure}"] = theirs[f"{figure}_s"] / record[f"{figure}_s"]
    return record


def grid(args):
    """The records, one by one, a model at a time: every size at the first batch size, every
    batch size at the first size; each reference cell just before ours."""
    cells = [(size, args.batch_sizes[0]) for size in args.sizes]
    cells += [(args.sizes[0], batch_size) for batch_size in args.batch_sizes[1:]]
    for model in args.models:
        width = None if model in FIXED_WIDTH else args.width
        for size, batch_size in cells:
            theirs = None
            if model in args.reference:
                theirs = reference(model, size, batch_size, width, args)
                _print(model, size, batch_size, "reference (torch)", theirs)
            for backend, mode, routes in itertools.product(args.backends, args.modes,
                                                           args.conv_routes):
                if backend != "tensorflow" and mode == "graph":
                    continue  # JAX compiles every step with XLA
                record = ours(model, size, batch_size, width, backend, mode, routes, args)
                record.update(model=model, size=size, batch_size=batch_size, backend=backend,
                              mode=mode, conv_routes=routes, reference=theirs)
                _print(model, size, batch_size, _run_name(record), ratios(record))
                yield record


def _run_name(record):
    """"tensorflow xla", with " routes on" / " routes off" where the switch was set."""
    routes = record.get("conv_routes", "default")
    return f"{record['backend']} {record['mode']}" + (
        f" routes {routes}" if routes != "default" else "")


def _print(model, size, batch_size, run, figures):
    if "error" in figures:
        text = figures["error"]
    else:
        text = "  ".join(f"{figure} {figures[f'{figure}_s']:.3f} s" for figure, _ in FIGURES
                         if figures.get(f"{figure}_s") is not None)
        text += f"  peak {_working(figures, 'train') or 0:.2f} GiB"
        text += "".join(f"  x{figures[f'ratio_{f}']:.2f} {f}" for f, _ in FIGURES
                        if f"ratio_{f}" in figures)
    print(f"{model:9} {size:4} b{batch_size} {run:22} {text}", flush=True)


def _working(figures, figure):
    """GiB of working memory: the peak after `figure`'s timings over the baseline."""
    peak = figures.get(f"{figure}_peak_bytes")
    return None if peak is None else (peak - figures.get("baseline_bytes", 0)) / GIB


def _cell(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def table(records):
    """Markdown: a table per run (backend, mode, routes), a row per model, size and batch
    size."""
    lines = []
    for run in dict.fromkeys(map(_run_name, records)):
        lines += [f"\n**{run}**\n",
                  "| model | size | batch | s / train step (reference) | s / image (reference) "
                  "| GiB peak: train / image (reference) | ratio train | ratio image |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in records:
            if _run_name(r) != run:
                continue
            if "error" in r:
                lines.append(f"| {r['model']} | {r['size']} | {r['batch_size']} | "
                             f"{r['error']} | | | | |")
                continue
            theirs = r.get("reference") or {}
            cells = [f"{_cell(r.get(f'{f}_s'))} ({_cell(theirs.get(f'{f}_s'))})"
                     for f, _ in FIGURES]
            theirs_memory = "/".join(_cell(_working(theirs, f), 2)
                                     for f, _ in FIGURES) if theirs else "—"
            cells.append("/".join(_cell(_working(r, f), 2) for f, _ in FIGURES)
                         + f" ({theirs_memory})")
            lines.append(f"| {r['model']} | {r['size']} | {r['batch_size']} | "
                         + " | ".join(cells)
                         + f" | {_cell(r.get('ratio_train'), 2)} | "
                         f"{_cell(r.get('ratio_infer'), 2)} |")
    return "\n".join(lines).strip() + "\n"


def _figure(figures, name):
    """Seconds per training step ("train") or image ("infer"), or GiB ("memory")."""
    if name == "memory":
        return _working(figures, "train")
    return figures.get(f"{name}_s")


def _series(records, model, along, fixed, run, value):
    """`(xs, ys)` of `value(record)` along "size" or "batch_size", the other one `fixed`, for
    the run named `run` (`_run_name`)."""
    other = "batch_size" if along == "size" else "size"
    points = [(r[along], value(r)) for r in records
              if (r["model"], _run_name(r), r[other]) == (model, run, fixed)
              and "error" not in r]
    return [x for x, y in points if y is not None], [y for _, y in points if y is not None]


def plot(results, path):
    """Seconds per training step and per image and working memory against resolution (and
    against batch size), a colour per model: this package's runs solid, dotted, ..., the
    reference's dashed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    records, options = results["records"], results["options"]
    alongs = ["size"] + (["batch_size"] if len(options["batch_sizes"]) > 1 else [])
    fixed = {"size": options["batch_sizes"][0], "batch_size": options["sizes"][0]}
    figure, axes = pyplot.subplots(len(alongs), 3, figsize=(15, 4.5 * len(alongs)),
                                   squeeze=False)
    colours = dict(zip(MODELS, pyplot.rcParams["axes.prop_cycle"].by_key()["color"]))
    runs = list(dict.fromkeys(map(_run_name, records)))
    panels = [*FIGURES, ("memory", "GiB peak memory / training step")]
    for row, along in zip(axes, alongs):
        for ax, (name, label) in zip(row, panels):
            for model in options["models"]:
                for run, style, marker in zip(runs, ["-", ":", "-.", (0, (1, 3))] * 4,
                                              "osD^" * 4):  # one size: only markers differ
                    xs, ys = _series(records, model, along, fixed[along], run,
                                     lambda r: _figure(r, name))
                    ax.plot(xs, ys, linestyle=style, marker=marker, color=colours[model],
                            label=f"{model} ({run})")
                xs, ys = _series(records, model, along, fixed[along], runs[0],
                                 lambda r: _figure(r.get("reference") or {}, name))
                if xs:
                    ax.plot(xs, ys, linestyle="--", marker="x", color=colours[model],
                            label=f"{model} (reference)")
            ax.set_yscale("log")
            ax.set_xlabel("image side (px)" if along == "size" else "batch size")
            ax.set_xticks(options["sizes"] if along == "size" else options["batch_sizes"])
            at = (f"batch {fixed[along]}" if along == "size"
                  else f"{fixed[along]}x{fixed[along]}")
            ax.set_title(f"{label}, {at}")
            ax.grid(True, which="both", alpha=0.3)
    legend = {label: handle for ax in axes.flat
              for handle, label in zip(*ax.get_legend_handles_labels())}
    labels = sorted(legend, key=lambda label: MODELS.index(label.split()[0]))
    figure.legend([legend[label] for label in labels], labels, loc="lower center", ncol=6,
                  fontsize=8)
    machine = results["machine"]
    figure.suptitle(f"keras-i2i, {machine['processor']} ({machine['cpus']} CPUs), "
                    f"{results['date']}; dashed: the reference PyTorch code")
    figure.tight_layout(rect=(0, 0.04 + 0.02 * len(labels) / 6, 1, 1))
    figure.savefig(path, dpi=80)


def _key(record):
    return record["model"], record["size"], record["batch_size"], _run_name(record)


def merge(results):
    """One results object of several runs': the first's, each later run's cells replacing
    those of the same model, size, batch size and run (a model measured again) or added."""
    merged = {**results[0], "records": list(results[0]["records"])}
    for later in results[1:]:
        replaced = {_key(record): record for record in later["records"]}
        merged["records"] = [replaced.pop(_key(r), r) for r in merged["records"]]
        merged["records"] += replaced.values()
        models = merged["options"]["models"] + later["options"]["models"]
        merged["options"] = {**merged["options"], "models": list(dict.fromkeys(models))}
        merged.setdefault("merged_runs", []).append(
            {key: later[key] for key in ("date", "machine", "options")})
    return merged


def write(results, out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(table(results["records"]))
    plot(results, out / "results.png")


def machine():
    """The processor, CPU count and load average (the cells record their own versions)."""
    return {"processor": processor(), "cpus": os.cpu_count(), "load_average": os.getloadavg()}


def _pair(text):
    model, _, path = text.partition("=")
    if model not in REFERENCES or not path:
        raise argparse.ArgumentTypeError(
            f"expected MODEL=CHECKOUT with MODEL one of {', '.join(REFERENCES)} (the models "
            f"reference.py builds), got {text!r}")
    return model, path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256, 512],
                        help="square image sides")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1])
    parser.add_argument("--width", type=int, default=None,
                        help="every model's base width (default: the presets')")
    parser.add_argument("--modes", nargs="+", choices=("eager", "graph", "xla", "mixed"),
                        default=["xla"])
    parser.add_argument("--backends", nargs="+", choices=("tensorflow", "jax"),
                        default=["tensorflow"])
    parser.add_argument("--conv-routes", nargs="+", choices=("default", "on", "off"),
                        default=["default"],
                        help="KERAS_I2I_CONV_ROUTES: this package's convolution routes "
                             "(default: as measured on this machine, else off)")
    parser.add_argument("--reference", nargs="*", type=_pair, default=[],
                        metavar="MODEL=CHECKOUT",
                        help="the official code's folder per model (DRIT: its src/)")
    parser.add_argument("--torch-python", default=sys.executable, help="a Python with torch")
    parser.add_argument("--reference-device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--out", default="benchmarks/results/latest")
    parser.add_argument("--plot", nargs="+", metavar="RESULTS_JSON",
                        help="redraw the table and figure of results files (merged into the "
                        "first's folder), measure nothing")
    args = parser.parse_args(argv)
    if args.plot:
        files = [pathlib.Path(path) for path in args.plot]
        write(merge([json.loads(path.read_text()) for path in files]), files[0].parent)
        return
    args.reference = dict(args.reference)
    for model, path in args.reference.items():
        if not pathlib.Path(path).is_dir():
            parser.error(f"--reference {model}={path}: no such folder (expected the official "
                         "code's checkout)")
    options = {key: value for key, value in vars(args).items() if key != "plot"}
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
               "options": options}
    results["records"] = []
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for record in grid(args):  # kept as they come: an interrupted run keeps its cells
        results["records"].append(record)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    results["machine"]["load_average_after"] = os.getloadavg()
    write(results, out)
    print(f"wrote {args.out}/results.json, results.md and results.png")


if __name__ == "__main__":
    main()
