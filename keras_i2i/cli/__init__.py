"""The `keras-i2i` command: train, test, translate, export, convert, evaluate, list presets,
and measure the convolution routes on this machine.

    keras-i2i presets
    keras-i2i train --model spade --preset cityscapes --data datasets/cityscapes --out runs/spade
    keras-i2i test --model spade --preset runs/spade --data datasets/cityscapes --out results/
    keras-i2i translate --model spade --preset runs/spade labels/ --with instance=inst/ --out r/
    keras-i2i export --model spade --preset runs/spade --out serving/spade/1
    keras-i2i convert --model spade --checkpoint latest_net_G.pth --preset cityscapes --out p/
    keras-i2i tune-routes [--model pix2pixhd --size 256 --width 32]

`train` writes into its `--out` folder: `opt.txt` and `options.json` (the run's options),
`checkpoints/` (resumed from when the same command runs again), `samples/` (titled input |
output | target grids), `losses.csv` and `losses.png`, `logs/` (TensorBoard) and, at the
end, `preset/` (a preset folder for `from_preset`, `test`, `translate` and `export`).

Mistakes (a missing folder, an unknown model or preset, a wrong layout, bad input) and a run
stopped by a NaN loss end the command with one line on stderr and exit status 1; Ctrl-C (or
SIGTERM) during training writes a checkpoint and ends with one line and status 130.
"""

import os
import re
import sys
import tempfile

from keras_i2i.cli import arguments

# TensorFlow's C++ logging prints lines before its settings are read; these patterns match
# them (absl/glog lines "I0000 00:00:... file.cc:123] ...", and the instruction-set notice).
_TF_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl"
    rb"|To enable the following instructions:)")


def main(argv=None):
    """Runs the command line `argv` (default `sys.argv[1:]`); returns the exit status."""
    argv = arguments.normalize(sys.argv[1:] if argv is None else list(argv))
    name = arguments.model_named(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    spec = None
    if name is not None and command == "train":
        try:
            spec = _model_spec(name)
        except ValueError as error:
            return _fail(str(error))
    args = arguments.parser(spec).parse_args(argv)
    _import_tensorflow_quietly()
    from keras_i2i.cli import commands

    try:
        commands.run(args)
    except KeyboardInterrupt as interrupt:
        if not str(interrupt):
            raise
        print(f"keras-i2i: {interrupt}", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 (the known kinds become one line)
        message = commands.user_error(error)
        if message is None:
            raise
        return _fail(message)
    return 0


def _model_spec(name):
    _import_tensorflow_quietly()
    from keras_i2i.models import registry

    return registry.get_model(name)


def _fail(message):
    print(f"keras-i2i: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _import_tensorflow_quietly():
    """Imports TensorFlow without its C++ start-up log lines on stderr.

    Its later C++ logs follow `TF_CPP_MIN_LOG_LEVEL` (3 here unless the user set it: the
    CUDA probe's errors on machines without a GPU, graph-optimizer notes), but the lines
    printed while it loads precede that setting, so they are captured and every other line
    is passed on.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not _TF_LOG_LINE.match(line)]
            if kept:
                sys.stderr.write(b"".join(kept).decode(errors="replace"))


def run():
    """The `keras-i2i` console script."""
    sys.exit(main())
