"""Field-data speed: CSV -> cache conversion vs pandas, cache reopen, building all training samples.

Usage::

    .venv/bin/python benchmarks/fields_data.py [--files 3] [--grid 930x188x94] [--workdir DIR]

1. Writes ``--files`` real-size synthetic CSVs (930x188x94 = 16.4 M rows, ~2 GB each) into a
   temporary folder (needs ~2.5 GB of free disk per file), reads each once with ``pandas.read_csv``
   (LASERNet's reader; skipped with a note if pandas is not installed), converts them all with
   ``simrnn.fields.cache.convert`` and reports rows/s, MB/s and the speed-up over pandas.
2. Reopens the cache (``open_cache``) and reports the time.
3. Writes 24 steps at LASERNet's training size (465x94x47, i.e. the real grid downsampled by 2),
   converts them, and times building every xz train/val/test sample with ``preload=True``.

Prints a table and writes ``benchmarks/results/fields_data.json``; temporary files are deleted.
Goals (issue 3): conversion >= 5x faster than one pandas read per file; reopen < 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from simrnn import __version__
from simrnn.fields.cache import convert, open_cache
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.synthetic import parse_grid, synthesise
from simrnn.files import write_json_atomic

RESULTS = Path(__file__).parent / "results" / "fields_data.json"


def pandas_reads(files: list[Path]) -> dict:
    """Seconds for one ``pandas.read_csv`` per file (all columns, default C parser)."""
    try:
        import pandas as pd
    except ImportError:
        return {"available": False, "note": "pandas is not installed; no comparison made"}
    seconds = []
    for path in files:
        start = time.perf_counter()
        pd.read_csv(path)
        seconds.append(time.perf_counter() - start)
    return {"available": True, "version": pd.__version__, "seconds_per_file": seconds}


def conversion(workdir: Path, grid: tuple[int, int, int], n_files: int) -> dict:
    """Synthesise real-size CSVs, read them with pandas, convert them, reopen the cache."""
    csv_dir = workdir / "real_size_csv"
    start = time.perf_counter()
    files = synthesise(csv_dir, grid=grid, steps=n_files, seed=0)
    synth_s = time.perf_counter() - start
    rows = n_files * grid[0] * grid[1] * grid[2]
    size = sum(p.stat().st_size for p in files)
    pandas = pandas_reads(files)
    start = time.perf_counter()
    cache = convert(csv_dir, workdir / "real_size.h5", workers=2)
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    opened = open_cache(cache)
    reopen_s = time.perf_counter() - start
    result = {
        "grid": list(grid),
        "files": n_files,
        "rows": rows,
        "csv_bytes": size,
        "synthesise_s": synth_s,
        "convert_s": convert_s,
        "convert_s_per_file": convert_s / n_files,
        "rows_per_s": rows / convert_s,
        "mb_per_s": size / 1e6 / convert_s,
        "cache_bytes": cache.stat().st_size,
        "reopen_s": reopen_s,
        "cache_shape": list(opened.shape),
        "pandas": pandas,
    }
    if pandas["available"]:
        per_file = sum(pandas["seconds_per_file"]) / n_files
        result["pandas_s_per_file"] = per_file
        result["speedup_vs_pandas"] = per_file / result["convert_s_per_file"]
    shutil.rmtree(csv_dir)
    cache.unlink()
    return result


def samples(workdir: Path, grid: tuple[int, int, int], steps: int) -> dict:
    """Convert ``steps`` CSVs at ``grid`` and time building every xz sample of every split."""
    csv_dir = workdir / "train_size_csv"
    synthesise(csv_dir, grid=grid, steps=steps, seed=0)
    start = time.perf_counter()
    cache = convert(csv_dir, workdir / "train_size.h5", workers=2)
    convert_s = time.perf_counter() - start
    shutil.rmtree(csv_dir)
    counts, build = {}, {}
    for split in ("train", "val", "test"):
        start = time.perf_counter()
        dataset = FieldSequenceDataset(cache, plane="xz", split=split, preload=True)
        for index in range(len(dataset)):
            dataset[index]
        build[split] = time.perf_counter() - start
        counts[split] = len(dataset)
    start = time.perf_counter()
    lazy = FieldSequenceDataset(cache, plane="xz", split="train", preload=False)
    for index in range(0, len(lazy), max(1, len(lazy) // 50)):
        lazy[index]
    lazy_item_s = (time.perf_counter() - start) / len(range(0, len(lazy), max(1, len(lazy) // 50)))
    cache.unlink()
    return {
        "grid": list(grid),
        "steps": steps,
        "convert_s": convert_s,
        "n_samples": counts,
        "build_all_samples_s": build,
        "build_all_samples_total_s": sum(build.values()),
        "lazy_item_s": lazy_item_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3, help="real-size CSVs to convert")
    parser.add_argument("--grid", default="930x188x94", help="real-size grid")
    parser.add_argument("--train-grid", default="465x94x47", help="grid of the 24-step sample-building set")
    parser.add_argument("--train-steps", type=int, default=24)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for temporary files")
    args = parser.parse_args()
    grid, train_grid = parse_grid(args.grid), parse_grid(args.train_grid)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="simrnn_fields_bench_", dir=args.workdir))
    needed = args.files * grid[0] * grid[1] * grid[2] * 160  # ~125 B/row CSV + cache
    free = shutil.disk_usage(workdir).free
    if free < needed:
        raise SystemExit(f"{workdir}: {free / 1e9:.1f} GB free, the benchmark needs ~{needed / 1e9:.1f} GB.")
    try:
        report = {
            "simrnn_version": __version__,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "load_average_at_start": os.getloadavg(),
            "conversion": conversion(workdir, grid, args.files),
            "samples": samples(workdir, train_grid, args.train_steps),
            "load_average_at_end": os.getloadavg(),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_json_atomic(RESULTS, report)
    print_table(report)


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    conv, smp = report["conversion"], report["samples"]
    table = Table(title=f"simrnn fields data benchmark ({report['machine']['cpus']} CPUs)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    table.add_row("CSV grid / files", f"{'x'.join(map(str, conv['grid']))} / {conv['files']}", "")
    table.add_row("CSV size per file", f"{conv['csv_bytes'] / conv['files'] / 1e9:.2f} GB", "")
    table.add_row("convert, per file", f"{conv['convert_s_per_file']:.1f} s", "")
    table.add_row("convert throughput", f"{conv['rows_per_s'] / 1e6:.2f} M rows/s, {conv['mb_per_s']:.0f} MB/s", "")
    if conv["pandas"]["available"]:
        table.add_row("pandas.read_csv, per file", f"{conv['pandas_s_per_file']:.1f} s", "")
        table.add_row("speed-up vs pandas", f"{conv['speedup_vs_pandas']:.1f}x", ">= 5x")
    else:
        table.add_row("pandas", conv["pandas"]["note"], ">= 5x")
    table.add_row("reopen cache", f"{conv['reopen_s'] * 1e3:.1f} ms", "< 1 s")
    total = sum(smp["n_samples"].values())
    table.add_row(
        f"build all {total} xz samples ({'x'.join(map(str, smp['grid']))}, {smp['steps']} steps)",
        f"{smp['build_all_samples_total_s']:.1f} s",
        "",
    )
    table.add_row("lazy item (HDF5 read)", f"{smp['lazy_item_s'] * 1e3:.1f} ms", "")
    Console().print(table)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
