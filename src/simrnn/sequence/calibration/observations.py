"""The observation table a calibration reads (GrainLearning's tutorial format).

Plain text, a ``#`` header line naming the columns, then one whitespace-separated row of numbers
per time step::

    # epsilon_axial   e       p       q
    0.000             0.6236  0.2000  0.0028
    0.001             0.6225  0.2044  0.0134
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError

#: Largest magnitude accepted in an observation table: squares (covariances) must stay finite.
MAX_ABS_VALUE = 1e100


@dataclass(frozen=True)
class ObservationTable:
    """Columns of an observation file, each a curve ``[T]`` over the same ``T`` time steps."""

    path: Path
    columns: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_steps(self) -> int:
        return len(next(iter(self.columns.values())))

    def stack(self, names: list[str]) -> np.ndarray:
        """The named curves stacked as ``[len(names), T]``; unknown or repeated names are a one-line error."""
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise UserInputError(
                f"{self.path}: no column {', '.join(map(repr, unknown))}; its columns are {', '.join(self.names)}."
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UserInputError(f"column(s) {', '.join(map(repr, repeated))} are named twice; name each column once.")
        return np.stack([self.columns[n] for n in names])


def read_observation_table(path: str | Path) -> ObservationTable:
    """Read a whitespace table whose first line is a ``#`` header naming the columns.

    Every row must hold one finite number per header name (a shorter or longer row means curves of
    different lengths and is reported with its line number); magnitudes above
    :data:`MAX_ABS_VALUE` are refused (their squares overflow the likelihood).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: observation file not found.")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None or not lines[header_at].lstrip().startswith("#"):
        raise UserInputError(f"{path}: expected a first line like '# epsilon_axial e p q' naming the columns.")
    names = lines[header_at].strip().lstrip("#").replace(",", " ").split()
    if not names or len(set(names)) != len(names):
        raise UserInputError(f"{path}: the header must name each column once, got {names}.")
    rows = []
    for number, line in enumerate(lines[header_at + 1:], start=header_at + 2):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != len(names):
            raise UserInputError(
                f"{path}: line {number} has {len(fields)} values but the header names {len(names)} columns "
                f"({', '.join(names)}); all curves must have the same length."
            )
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise UserInputError(f"{path}: line {number} holds a value that is not a number: {line.strip()!r}.") \
                from None
    if not rows:
        raise UserInputError(f"{path}: no data rows below the header.")
    table = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(table).all():
        bad = int(np.argwhere(~np.isfinite(table))[0, 0])
        raise UserInputError(f"{path}: data row {bad + 1} holds NaN or inf; observations must be finite.")
    if np.abs(table).max() > MAX_ABS_VALUE:
        bad = int(np.argwhere(np.abs(table) > MAX_ABS_VALUE)[0, 0])
        raise UserInputError(
            f"{path}: data row {bad + 1} holds a value beyond +-{MAX_ABS_VALUE:g}; observations must be of "
            "physical size."
        )
    return ObservationTable(path, {name: table[:, j] for j, name in enumerate(names)})
