"""Storage URLs, samplers, pruners and study creation (no training)."""

from __future__ import annotations

import optuna
import pytest

from simrnn.errors import UserInputError
from simrnn.sweep.spec import parse_sweep
from simrnn.sweep.study import create_study, load_study, make_pruner, make_sampler, open_storage, storage_url


def spec_for(method: str = "bayes", **top):
    return parse_sweep({"method": method, "metric": {"name": "val_loss", "goal": "maximize"},
                        "parameters": {"lstm_units": {"values": [4, 8]}}, **top})


def test_storage_urls(tmp_path):
    with pytest.raises(UserInputError, match=r"runs/sweeps.db: no such sweep database") as info:
        storage_url(None, tmp_path / "runs")  # reading: nothing is created
    assert info.value.key == "storage" and not (tmp_path / "runs").exists()
    assert storage_url(None, tmp_path / "runs", create=True) == f"sqlite:///{tmp_path}/runs/sweeps.db"
    assert (tmp_path / "runs").is_dir()  # created so that SQLite can write the file
    assert storage_url(tmp_path / "s.db", create=True) == f"sqlite:///{tmp_path}/s.db"
    assert storage_url(f"sqlite:///{tmp_path}/t.db", create=True) == f"sqlite:///{tmp_path}/t.db"
    assert storage_url("postgresql://me:pw@node1:5433/sweeps") == "postgresql+psycopg://me:pw@node1:5433/sweeps"
    assert storage_url("postgres://me@node1/sweeps") == "postgresql+psycopg://me@node1/sweeps"
    assert storage_url("postgresql+psycopg2://me@node1/s") == "postgresql+psycopg2://me@node1/s"
    with pytest.raises(UserInputError, match="is not a database URL"):
        storage_url("bogus://:::")


def test_a_storage_under_a_regular_file_names_the_file(tmp_path):
    """`--storage FILE/x.db` said "FILE: already exists"; now the file in the way is named as such."""
    (tmp_path / "FILE").write_text("x")
    with pytest.raises(UserInputError, match=r"FILE/x.db: cannot be created because .*FILE is not a directory"):
        storage_url(tmp_path / "FILE" / "x.db", create=True)
    with pytest.raises(UserInputError, match=r"storage .* is a folder; expected a SQLite file"):
        storage_url(tmp_path, create=True)


def test_unreachable_database_is_one_sentence():
    with pytest.raises(UserInputError, match=r"storage postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:9/none\S*: cannot open"):
        open_storage(storage_url("postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2"))


def test_samplers_and_pruners():
    assert isinstance(make_sampler(spec_for("bayes"), 0), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(spec_for("random"), 0), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler(spec_for("grid"), 0), optuna.samplers.GridSampler)
    median = make_pruner(spec_for(simrnn={"pruner": {"type": "median", "n_startup_trials": 2}}).pruner)
    assert isinstance(median, optuna.pruners.MedianPruner) and median._n_startup_trials == 2
    hyperband = make_pruner(spec_for(early_terminate={"type": "hyperband", "min_iter": 2, "eta": 2}).pruner)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._reduction_factor) == (2, 2)
    assert isinstance(make_pruner(spec_for(simrnn={"pruner": "none"}).pruner), optuna.pruners.NopPruner)
    with pytest.raises(UserInputError, match="simrnn.pruner median"):
        make_pruner(spec_for(simrnn={"pruner": {"type": "median", "patience": 2}}).pruner)


def test_study_keeps_its_sweep_and_refuses_another(tmp_path):
    url = storage_url(tmp_path / "s.db", create=True)
    first = create_study(spec_for("grid"), "sequence", url, "s1")  # nothing trained yet: may be corrected
    study = create_study(spec_for(), "sequence", url, "s1")
    assert study._study_id == first._study_id and load_study(url, "s1")[1].method == "bayes"
    study.add_trial(optuna.trial.create_trial(value=1.0))  # a finished trial: from now on the definition is fixed
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    again = create_study(spec_for(), "sequence", url, "s1")  # resume: same file, same task
    assert again._study_id == study._study_id
    loaded, spec, task = load_study(url, "s1")
    assert task == "sequence" and spec.parameters == spec_for().parameters
    with pytest.raises(UserInputError, match="started with another sweep definition"):
        create_study(spec_for("random"), "sequence", url, "s1")
    with pytest.raises(UserInputError, match="no study 'nope'.*studies there: s1"):
        load_study(url, "nope")
