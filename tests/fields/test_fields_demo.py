"""The lead's demo hook: synthesise -> convert -> datasets -> figure in one call."""

from pathlib import Path

from simrnn.fields import demo_summary
from simrnn.fields.demo import demo_summary as full_demo


def test_demo_summary_reports_counts_timings_and_figure(tmp_path):
    summary = full_demo(tmp_path, grid=(32, 8, 6), steps=24)
    assert summary["n_samples"] == {"train": 8 * 8, "val": 3 * 8, "test": 3 * 8}
    assert summary["context_shape"] == [3, 10, 6, 32]
    assert Path(summary["figure"]).stat().st_size > 10_000
    assert set(summary["timings"]) == {"synthesise_s", "convert_s", "reopen_s", "datasets_s", "figure_s"}
    assert summary["data"]["steps"]["test"] == list(range(18, 24))
    assert callable(demo_summary)
