"""Field surrogates' data: LASERNet CSV point clouds, the gridded HDF5 cache, plane sequences.

Modules: :mod:`~simrnn.fields.pointcloud` (read and grid CSVs), :mod:`~simrnn.fields.cache`
(convert / open the HDF5 cache), :mod:`~simrnn.fields.dataset` (``FieldSequenceDataset``),
:mod:`~simrnn.fields.synthetic` (synthetic melt-pool CSVs), :mod:`~simrnn.fields.ipf` (cubic IPF
colours), :mod:`~simrnn.fields.figures` and :mod:`~simrnn.fields.demo`. Imports stay lazy here.
"""

from __future__ import annotations

from pathlib import Path


def demo_summary(workdir: Path) -> dict:
    """Synthesise, convert, build the xz datasets and draw a figure in ``workdir`` (see :mod:`.demo`)."""
    from simrnn.fields.demo import demo_summary as run

    return run(workdir)


__all__ = ["demo_summary"]
