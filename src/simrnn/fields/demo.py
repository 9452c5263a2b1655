"""The field-data part of ``simrnn demo``: synthesise -> convert -> datasets -> figure, in seconds."""

from __future__ import annotations

import time
from pathlib import Path

from simrnn.fields.cache import convert, open_cache
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.figures import plot_planes
from simrnn.fields.synthetic import synthesise


def demo_summary(workdir: Path, grid: tuple[int, int, int] = (96, 24, 16), steps: int = 24) -> dict:
    """Run the field-data pipeline on a small synthetic set inside ``workdir`` and report on it.

    Writes ``workdir/fields_csv/`` (``steps`` CSVs), ``workdir/fields_cache.h5`` and
    ``workdir/fields_synthetic.png``. Returns the grid, the sample counts of the xz train/val/test
    datasets, their ``describe()`` of the train split, the timings (s) and the figure path.
    """
    workdir = Path(workdir)
    timings = {}
    start = time.perf_counter()
    files = synthesise(workdir / "fields_csv", grid=grid, steps=steps, seed=0)
    timings["synthesise_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cache_path = convert(workdir / "fields_csv", workdir / "fields_cache.h5")
    timings["convert_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cache = open_cache(cache_path)
    timings["reopen_s"] = time.perf_counter() - start
    start = time.perf_counter()
    datasets = {
        split: FieldSequenceDataset(cache, plane="xz", split=split) for split in ("train", "val", "test")
    }
    first = datasets["train"][0]
    timings["datasets_s"] = time.perf_counter() - start
    start = time.perf_counter()
    figure = plot_planes(cache_path, workdir / "fields_synthetic.png", plane="xz")
    timings["figure_s"] = time.perf_counter() - start
    return {
        "grid": list(grid),
        "n_files": len(files),
        "cache": str(cache_path),
        "n_samples": {split: len(ds) for split, ds in datasets.items()},
        "context_shape": list(first["context"].shape),
        "data": datasets["train"].describe(),
        "timings": timings,
        "figure": str(figure),
    }
