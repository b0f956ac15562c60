"""What the benchmark scripts share: timing a call, describing the machine, writing JSON."""

import importlib
import json
import os
import platform
import time

import keras


def seconds_per_call(function, repeats, warmup):
    """Mean wall-clock seconds of `function()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def machine():
    """CPU count, load average, platform, the Keras backend, its devices and the versions,
    taken before the timings."""
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
