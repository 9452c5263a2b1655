"""The YADE template run for real through the driver (needs YADE's ``yade-batch``; not part of the tests).

Runs ``examples/yade/triax_template.py`` for a few contact parameter sets with
:class:`~simrnn.sequence.calibration.yade_driver.YadeBatch` and prints, per sample: the initial
void ratio, the peak stress ratio q/p and its strain, the final void ratio, two physics checks of
the template's output (drained: ``p - conf - q/3`` stays 0 because the lateral stresses stay at
``conf``; the stress-force-fabric relation ``q/p = 2/5 (a_c + a_n + 3/2 a_t)``, exact only for
equal branch lengths) and the wall time of the batch; with the date, CPU, load and YADE version.

    .venv/bin/python benchmarks/yade_template.py [--num 500] [--max-strain 0.05] [--step 0.005] [--jobs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
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
    args = parser.parse_args()
    version = subprocess.run([args.executable, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; CPU {cpu_model()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}; {version.splitlines()[-1] if version else args.executable}")
    control = np.arange(round(args.max_strain / args.step) + 1) * args.step
    with tempfile.TemporaryDirectory() as work:
        run = YadeBatch(TEMPLATE, NAMES, OBS, control, work, jobs=args.jobs, timeout=3600,
                        fixed={"conf": args.conf, "num": args.num, "max_strain": args.max_strain,
                               "strain_step": args.step})
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


if __name__ == "__main__":
    main()
