"""A hybrid loop killed (SIGKILL) in the middle of a round resumes without repeating a simulation."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from simrnn.sequence.calibration.hybrid import HybridSettings

N0, B = HybridSettings.initial, HybridSettings.batch  # the script's loop: the default design and batch

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np, torch
    from simrnn.sequence.calibration import hybrid_surrogates
    from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator

    torch.set_num_threads(1)
    out, log, kill_at_fit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    X = np.linspace(0.1, 10, 30)

    def hyperbola(params):
        with open(log, "a") as f:  # every simulated row, as the simulator saw it
            f.writelines(json.dumps(row) + "\\n" for row in params.tolist())
        return (X / (100 * params[:, :1] + params[:, 1:] * X))[:, :, None]

    fit, calls = hybrid_surrogates.MlpSurrogate.fit, []

    def fit_then_die(self, *args, **kwargs):  # round k's fine-tuning is fit call k + 1
        calls.append(1)
        if len(calls) == kill_at_fit:
            os.kill(os.getpid(), signal.SIGKILL)
        return fit(self, *args, **kwargs)

    hybrid_surrogates.MlpSurrogate.fit = fit_then_die
    observed = (X / (100 * 0.2 + 5.0 * X))[None]
    settings = HybridSettings(initial_epochs=300, fine_tune_epochs=100, patience=50, steps=200, max_rounds=3,
                              mean_tol=1e-9)  # never settles: all three rounds run
    sim = hybrid_simulator(hyperbola, ["a", "b"], ["y"], X, out)
    hybrid_calibrate(sim, observed, {"a": (0.1, 0.5), "b": (2.0, 8.0)}, out, settings, figures=False)
""")


def run(out: Path, log: Path, kill_at_fit: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(log), str(kill_at_fit)], env=env,
                          capture_output=True, text=True, timeout=300)


def rows(log: Path) -> list[tuple]:
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_loop_killed_after_a_rounds_simulations_repeats_none_of_them(tmp_path):
    out = tmp_path / "loop"
    first = run(out, tmp_path / "first.log", kill_at_fit=3)  # killed while fine-tuning in round 2
    assert first.returncode == -signal.SIGKILL, first.stderr
    done = sorted(p.name for p in out.glob("round_*"))
    assert done == ["round_0", "round_1"]  # round 2 was not written, not even in part
    simulated = rows(tmp_path / "first.log")
    assert len(simulated) == N0 + 2 * B  # round 2's batch was simulated (and cached) before the kill
    with np.load(out / "simulations.npz") as cache:
        assert len(cache["params"]) == len(simulated)

    second = run(out, tmp_path / "second.log", kill_at_fit=0)
    assert second.returncode == 0, second.stderr
    again = rows(tmp_path / "second.log")
    assert not set(again) & set(simulated)  # round 2 chose the same points: all found in the cache
    assert len(again) == B  # only round 3's batch is new
    records = [json.loads((out / f"round_{k}" / "round.json").read_text()) for k in range(4)]
    assert [r["simulations"] for r in records] == [N0 + k * B for k in range(4)]
