"""What the benchmark scripts share: timing a call, describing the machine, writing JSON.
Keras is imported only to describe the machine, so the PyTorch reference scripts, which run
without it, time their calls here too."""

import importlib
import json
import os
import platform
import statistics
import subprocess
import time


def seconds_per_call(function, repeats, warmup):
    """Mean wall-clock seconds of `function()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def median_time(function, steps, warmup=2):
    """Median wall-clock and CPU seconds (all threads of the process) of `function()` over
    `steps` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def seconds(figures):
    """`{name: (wall, cpu)}` (`median_time`'s) -> `{"<name>_s": wall, "<name>_cpu_s": cpu}`."""
    return {f"{name}_{unit}": value for name, times in figures.items()
            for unit, value in zip(("s", "cpu_s"), times)}


def machine():
    """CPU count, load average, platform, the Keras backend, its devices and the versions,
    taken before the timings."""
    import keras

    backend = keras.backend.backend()
    library = importlib.import_module(backend)
    return {"cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
            "platform": platform.platform(), "keras": keras.__version__,
            "backend": backend, backend: library.__version__,
            "devices": keras.distribution.list_devices()}


def write_results(results, path):
    """Adds the load average after the timings to `results["machine"]`; writes `results` as
    JSON to `path` when one is given."""
    results["machine"]["load_average_after"] = os.getloadavg()
    if path:
        with open(path, "w") as file:
            json.dump(results, file, indent=2)


def run_json(command, timeout=None, env=None):
    """Runs a benchmark script (`command`: [python, script, ...]) in this folder; the JSON
    object of its last line of output (its figures or its `{"error": ...}`), or `{"error":
    ...}` naming the script, its exit status and its last line of errors."""
    name = os.path.basename(command[1])
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                 cwd=os.path.dirname(os.path.abspath(__file__)),
                                 env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"error": f"{name}: past the {timeout} s timeout"}
    lines = process.stdout.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        figures = json.loads(lines[-1])
        if "error" in figures:
            figures["error"] = f"{name}: {figures['error'][:300]}"
        return figures
    errors = (process.stderr.strip() or process.stdout.strip() or "no output").splitlines()
    return {"error": f"{name}: exit {process.returncode}: {errors[-1][:300]}"}


def reference_figures(torch_python, arguments):
    """`reference.py`'s figures for `arguments`, run by `torch_python`; exits with its error."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.py")
    figures = run_json([torch_python, script, *map(str, arguments)])
    if "error" in figures:
        raise SystemExit(f"{torch_python} {figures['error']}")
    return figures
