"""Time ``simrnn demo`` as a fresh clone runs it: a new process, an empty matplotlib cache, a new folder.

    .venv/bin/python benchmarks/demo.py [--repeats 1] [--compare REF]

``--compare REF`` alternates the demo of commit REF (e.g. ``main``) with HEAD's, REF first, in one
process (A/B/A/B with ``--repeats 2``), so both see the same machine and load.

The demo runs in a fresh ``git clone`` of this repository's HEAD (its sources first on
``PYTHONPATH``, so simrnn's bytecode is compiled anew) with the installed dependencies of this
environment; ``make demo`` adds the installation before it.

Prints the date, the CPU, the cores this process may use, the load average before and after, the
demo's own step timings, its wall time and the CPU time (user + system) of the demo process. With
the demo's one PyTorch thread, the CPU time is close to the wall time on an idle machine; on a busy
one the wall time grows and the CPU time does not, so both are printed. Writes
``benchmarks/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simrnn.cpu import affinity_cpus, cpu_model

RESULTS = Path(__file__).resolve().parent / "results" / "demo.json"


def run_once(simrnn: str, ref: str = "HEAD") -> dict:
    """One ``simrnn demo`` of commit ``ref`` in a fresh clone in a temporary folder with an empty MPLCONFIGDIR."""
    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", ref], capture_output=True, text=True, cwd=repo, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", "--no-checkout", f"file://{repo}", str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        env = dict(os.environ, MPLCONFIGDIR=str(Path(tmp) / "mpl"), PYTHONPATH=str(clone / "src"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()
        started = time.perf_counter()
        done = subprocess.run([simrnn, "demo"], cwd=clone, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"simrnn demo failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    steps = re.search(r"^step times:\s+(.*)$", done.stdout, re.M)
    total = re.search(r"^total time:\s+([\d.]+) s", done.stdout, re.M)
    return {
        "ref": ref,
        "commit": commit[:7],
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "demo_total_s": float(total.group(1)) if total else None,
        "steps": steps.group(1) if steps else "",
        "load_average_before": list(load),
        "load_average_after": list(os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--compare", metavar="REF", help="also run commit REF (e.g. main), alternating with HEAD")
    args = parser.parse_args()
    simrnn = shutil.which("simrnn") or str(Path(sys.executable).with_name("simrnn"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent, check=False).stdout.strip()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "cores": len(affinity_cpus()), "commit": commit, "runs": []}
    print(f"{result['date']}  CPU: {result['cpu']}, {result['cores']} cores usable, commit {commit}")
    refs = [args.compare, "HEAD"] if args.compare else ["HEAD"]
    for k, ref in enumerate(ref for _ in range(args.repeats) for ref in refs):
        row = run_once(simrnn, ref)
        result["runs"].append(row)
        print(f"run {k + 1} ({ref} {row['commit']}): wall {row['wall_s']:.1f} s (demo's own total {row['demo_total_s']} s), "
              f"CPU {row['cpu_s']:.1f} s, load average {row['load_average_before'][0]:.2f} -> "
              f"{row['load_average_after'][0]:.2f}")
        print(f"  step times: {row['steps']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
