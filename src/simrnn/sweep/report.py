"""Optuna's sweep plots as PNG (matplotlib) and interactive HTML (plotly).

Written: ``optimization_history``, ``param_importances`` (needs two complete trials and a
parameter that varies) and ``parallel_coordinate``, each as ``.png`` and ``.html``; the HTML files
share one ``plotly.min.js`` in the same folder, so they open offline (clusters without internet).
"""

from __future__ import annotations

import html as _html
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from simrnn.errors import UserInputError
from simrnn.files import atomic_path

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate")
#: where reports go unless ``out`` is given: ``<REPORTS_DIR>/<study>/<timestamp>``.
REPORTS_DIR = "sweep_reports"


def write_report(study: optuna.Study, out: str | Path | None = None, target_name: str = "Objective Value") -> list[Path]:
    """Write the plots of ``study`` into a new folder ``out`` (default ``sweep_reports/<study>/<timestamp>``);
    return the files written: ``index.html`` (every PNG, linking to its interactive page), PNG, HTML.
    ``target_name``: the metric's name (e.g. ``val_loss``), written on the axes.

    A study without a complete trial is refused before anything is created; a failure while
    writing removes the folder again, so a retry is never blocked.
    """
    import matplotlib.pyplot as plt  # Optuna draws with pyplot; its figures are closed below

    from simrnn.files import output_directory

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise UserInputError(f"study {study.study_name!r} has no complete trial to plot yet.")
    written = []
    with output_directory(out, Path(REPORTS_DIR) / study.study_name) as out_dir:  # all or nothing
        for name in _plottable(complete):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # one trial, or equal values: matplotlib widens the flat axis itself
                warnings.filterwarnings("ignore", message="Attempting to set identical low and high ylims")
                axes = getattr(optuna.visualization.matplotlib, f"plot_{name}")(study, target_name=target_name)
                figure = getattr(optuna.visualization, f"plot_{name}")(study, target_name=target_name)
            fig = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            png = out_dir / f"{name}.png"
            with atomic_path(png) as tmp:
                fig.savefig(tmp, dpi=120, format="png")
            plt.close(fig)
            html = out_dir / f"{name}.html"
            with atomic_path(html) as tmp:
                figure.write_html(tmp, include_plotlyjs="directory")
            written += [png, html]
        written = sorted(written, key=lambda p: (p.suffix != ".png", p.name))
        index = out_dir / "index.html"
        with atomic_path(index) as tmp:
            Path(tmp).write_text(_index_page(study.study_name, target_name, written), encoding="utf-8")
    return [out_dir.final(p) for p in (index, *written)]


def _index_page(study_name: str, target_name: str, files: list[Path]) -> str:
    """One HTML page: every PNG, each linking to its interactive HTML version."""
    title = _html.escape(f"sweep {study_name}: {target_name}")
    items = "".join(f'<h2>{p.stem.replace("_", " ")}</h2><a href="{p.stem}.html"><img src="{p.name}" width="800"></a>\n'
                    for p in files if p.suffix == ".png")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>" \
           f"<body><h1>{title}</h1>\n{items}</body></html>\n"


def _plottable(complete: list[optuna.trial.FrozenTrial]) -> list[str]:
    """Importances need two complete trials and a parameter with more than one value."""
    varied = any(len({repr(t.params.get(k)) for t in complete}) > 1 for k in complete[0].params)
    return [p for p in PLOTS if p != "param_importances" or (len(complete) >= 2 and varied)]
