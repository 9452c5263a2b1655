"""Several worker processes on one study: a killed worker, and two workers sharing a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import optuna
from optuna.trial import TrialState

from simrnn.sweep import run_sweep
from simrnn.sweep.spec import load_sweep
from simrnn.sweep.study import create_study, open_storage, storage_url

WAIT_S = 180


def wait_for(condition, what: str, proc: subprocess.Popen, log):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) before {what}: {log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_leaves_its_trial_failed_and_a_rerun_continues(write_sweep, worker_command, tmp_path):
    sweep = write_sweep({"lstm_units": {"values": [4, 8]},
                         "learning_rate": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-2}},
                        settings={"epochs": 4}, simrnn={"heartbeat_interval": 1, "grace_period": 2}, name="kill")
    url = storage_url(tmp_path / "runs" / "sweeps.db", create=True)
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(worker_command("sweep", "run", str(sweep), "--task", "sequence", "--trials", "3"),
                                stdout=sink, stderr=subprocess.STDOUT)

    def one_done_one_training():
        try:
            trials = optuna.load_study(study_name="sequence-kill", storage=url).get_trials()
        except KeyError:  # not created yet
            return None
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        training = [t for t in trials if t.state == TrialState.RUNNING and "run_dir" in t.user_attrs]
        return (done, training[0]) if done and training else None

    try:
        done, victim = wait_for(one_done_one_training, "a trial to complete and the next to train", proc, log)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    time.sleep(3.5)  # past the grace period (whole seconds in SQLite): the dead worker's heartbeat is stale

    study = run_sweep(sweep, "sequence", trials=3)  # the same sweep again: resumes the study
    after = {t.number: t for t in study.get_trials()}
    assert after[victim.number].state == TrialState.FAIL  # the killed trial is failed ...
    assert after[victim.number].user_attrs["run_dir"] == victim.user_attrs["run_dir"]  # ... and says where it ran
    for t in done:  # nothing finished before the kill is lost or redone
        assert after[t.number].state == TrialState.COMPLETE and after[t.number].value == t.value
        assert after[t.number].user_attrs["run_dir"] == t.user_attrs["run_dir"]
    complete = [t for t in after.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 and len(after) == 4
    assert len({t.user_attrs["run_dir"] for t in complete}) == 3


def test_two_workers_share_one_postgres_study(write_sweep, worker_command, postgres_url, tmp_path):
    sweep = write_sweep({"lstm_units": {"values": [4, 8]}, "window_size": {"values": [2, 3]}},
                        method="grid", settings={"epochs": 1}, name="pg")
    url = storage_url(postgres_url)
    create_study(load_sweep(sweep), "sequence", url, "pg-grid")
    command = worker_command("sweep", "worker", "--storage", postgres_url, "--study", "pg-grid")
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=WAIT_S) for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    # between them the two workers trained every point once (which worker got how many depends on timing)
    assert sum(out.count(" complete: value ") for out, _ in outputs) == 4

    trials = optuna.load_study(study_name="pg-grid", storage=open_storage(url)).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = sorted((t.user_attrs["settings"]["lstm_units"], t.user_attrs["settings"]["window_size"]) for t in complete)
    assert points == [(4, 2), (4, 3), (8, 2), (8, 3)]  # every grid point exactly once
    assert len({t.user_attrs["run_dir"] for t in complete}) == 4
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.user_attrs.get("failure", "").startswith("surplus") for t in others)  # a lost race trains nothing
    assert len(list((tmp_path / "runs" / "sequence").iterdir())) == 4
