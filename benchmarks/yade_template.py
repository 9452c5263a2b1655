"""The YADE template run for real through the driver (needs YADE's ``yade-batch``; not part of the tests).

Runs ``examples/yade/triax_template.py`` for a few contact parameter sets with
:class:`~simrnn.sequence.calibration.yade_driver.YadeBatch` and prints, per sample: the initial
void ratio, the peak stress ratio q/p and its strain, the final void ratio, two physics checks of
the template's output (drained: ``p - conf - q/3`` stays 0 because the lateral stresses stay at
``conf``; the stress-force-fabric relation ``q/p = 2/5 (a_c + a_n + 3/2 a_t)``, exact only for
equal branch lengths) and the wall time of the batch; with the date, CPU, load and YADE version.

``--hybrid``: instead, the hybrid loop with YADE in it, as docs/calibration.md shows it: the curve
(e, q) of the first sample is the observation, a module ``my_yade.py`` builds the driver for the
friction angle mu alone (the other parameters fixed at the truth), and ``PYTHONPATH=.
simrnn calibrate --simulator my_yade:run --param mu=10:50 --rounds ROUNDS`` calibrates it;
prints the command's output, its wall time and the number of yade-batch runs.

    .venv/bin/python benchmarks/yade_template.py [--num 500] [--max-strain 0.05] [--step 0.005] [--jobs 2]
    .venv/bin/python benchmarks/yade_template.py --hybrid --num 200 --max-strain 0.02 --step 0.002
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simrnn.cpu import cpu_model
from simrnn.sequence.calibration.yade_driver import YadeBatch

TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "yade" / "triax_template.py"
NAMES = ["E", "v", "kr", "eta", "mu"]
SAMPLES = np.array([[8.0, 0.3, 0.5, 0.3, 30.0], [8.0, 0.3, 0.5, 0.3, 10.0], [9.0, 0.3, 0.5, 0.3, 30.0],
                    [8.0, 0.3, 0.0, 0.0, 30.0]])
OBS = ["e", "p", "q", "a_c", "a_n", "a_t"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=500, help="spheres per sample")
    parser.add_argument("--max-strain", type=float, default=0.05)
    parser.add_argument("--step", type=float, default=0.005, help="axial strain between recorded states")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--conf", type=float, default=2e5, help="confining pressure [Pa]")
    parser.add_argument("--executable", default="yade-batch")
    parser.add_argument("--hybrid", action="store_true", help="the hybrid loop's CLI with YADE (see above)")
    parser.add_argument("--rounds", type=int, default=10, help="--hybrid: the loop's maximum rounds")
    args = parser.parse_args()
    version = subprocess.run([args.executable, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; CPU {cpu_model()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}; {version.splitlines()[-1] if version else args.executable}")
    control = np.arange(round(args.max_strain / args.step) + 1) * args.step
    fixed = {"conf": args.conf, "num": args.num, "max_strain": args.max_strain, "strain_step": args.step}
    if args.hybrid:
        hybrid(args, control, fixed)
        return
    with tempfile.TemporaryDirectory() as work:
        run = YadeBatch(TEMPLATE, NAMES, OBS, control, work, fixed=fixed, jobs=args.jobs, timeout=3600)
        start = time.perf_counter()
        curves = run(SAMPLES)
        wall = time.perf_counter() - start
    print(f"{len(SAMPLES)} samples of {args.num} spheres to e_z = {args.max_strain} in steps of {args.step}, "
          f"{args.jobs} jobs at once: {wall:.1f} s; load average after {os.getloadavg()[0]:.2f}")
    print("E v kr eta mu | e0 | peak q/p at e_z | e end | max |p - conf - q/3| / conf | "
          "max |q/p - 2/5 (a_c + a_n + 3/2 a_t)| after the first step")
    for row, c in zip(SAMPLES, curves, strict=True):
        e, p, q, a_c, a_n, a_t = c.T
        if np.isnan(c).any():
            print(" ".join(f"{x:g}" for x in row), "| failed")
            continue
        ratio = q / p
        peak = int(np.argmax(ratio))
        drained = np.max(np.abs(p - args.conf / 1e6 - q / 3)) / (args.conf / 1e6)
        fabric = np.max(np.abs(ratio - 0.4 * (a_c + a_n + 1.5 * a_t))[1:])
        print(" ".join(f"{x:g}" for x in row), f"| {e[0]:.3f} | {ratio[peak]:.3f} at {control[peak]:.3f} | "
              f"{e[-1]:.3f} | {drained:.2e} | {fabric:.3f}")


def hybrid(args: argparse.Namespace, control: np.ndarray, fixed: dict) -> None:
    """The observation from YADE at ``SAMPLES[0]``, then ``simrnn calibrate --simulator my_yade:run`` for mu."""
    truth = dict(zip(NAMES, SAMPLES[0], strict=True))
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        observed = YadeBatch(TEMPLATE, NAMES, ["e", "q"], control, work / "truth", fixed=fixed, jobs=1)(SAMPLES[:1])
        np.savetxt(work / "obs.dat", np.column_stack([control, observed[0]]), header="e_z e q")
        known = {n: truth[n] for n in NAMES if n != "mu"} | fixed
        (work / "my_yade.py").write_text(
            "from simrnn.sequence.calibration.observations import read_observation_table\n"
            "from simrnn.sequence.calibration.yade_driver import YadeBatch\n\n"
            "strain = read_observation_table('obs.dat').columns['e_z']\n"
            f"run = YadeBatch({str(TEMPLATE)!r}, ['mu'], ['e', 'q'], strain, 'yade_runs', fixed={known!r},\n"
            f"                jobs={args.jobs}, timeout=3600, executable={args.executable!r})\n")
        command = [str(Path(sys.executable).with_name("simrnn")), "calibrate", "--simulator", "my_yade:run",
                   "--obs", "obs.dat", "--param", "mu=10:50", "--rounds", str(args.rounds), "--out", "cal"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([".", *sys.path]))
        start = time.perf_counter()
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        batches = len(list((work / "yade_runs").glob("batch_*")))
    print(f"truth mu = {truth['mu']:g} ({args.num} spheres, e_z to {args.max_strain} in steps of {args.step}); "
          f"PYTHONPATH=. simrnn {' '.join(command[1:])}")
    print(done.stdout.strip() or done.stderr.strip())
    print(f"exit status {done.returncode}, {wall:.1f} s, {batches} yade-batch runs; load average after "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
