"""What the benchmarks read from a run's timeline (every sample, where the
report keeps at most 1,500), so each measures the ramp the same way."""
import gzip
import json


def samples(path):
    """Every sample line of a gzip timeline, in order."""
    with gzip.open(path, "rt") as f:
        return [line for line in map(json.loads, f) if line["type"] == "sample"]


def ramp_ms(samples, n):
    """The time of the first sample with all n of the run's backends open, in ms (NaN if none)."""
    return next((s["t_s"] * 1000 for s in samples if s["own"] >= n), float("nan"))
