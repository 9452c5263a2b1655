"""LSF and SLURM batch scripts: the generated text, and the command that writes them."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.hpc import JobResources, batch_script, memory_mb, walltime_minutes, write_batch_script

TRAIN = ["simrnn", "fields", "train", "cache dir/fields.h5", "--model", "predrnn"]


def test_lsf_script():
    text = batch_script("lsf", TRAIN, JobResources(gpus=1, cores=4, mem="64GB", walltime="8:00", queue="gpuv100"))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for expected in ('#BSUB -J "simrnn"', "#BSUB -q gpuv100", "#BSUB -n 4", '#BSUB -R "span[hosts=1]"',
                     '#BSUB -R "rusage[mem=16384MB]"', "#BSUB -W 8:00", '#BSUB -gpu "num=1:mode=exclusive_process"',
                     "#BSUB -o simrnn_%J.out", "#BSUB -e simrnn_%J.err", "export OMP_NUM_THREADS=4"):
        assert expected in lines
    assert lines[-1] == "simrnn fields train 'cache dir/fields.h5' --model predrnn"  # quoted, run directly


def test_lsf_array_of_sweep_workers_without_gpu():
    text = batch_script("lsf", ["simrnn", "sweep", "worker", "--storage", "postgresql://me@db/s", "--study", "s1"],
                        JobResources(gpus=0, cores=2, mem="8GB", walltime="0:30", array=8, job_name="sweep"))
    assert '#BSUB -J "sweep[1-8]"' in text and "#BSUB -o sweep_%J_%I.out" in text and "#BSUB -W 0:30" in text
    assert "-gpu" not in text and "#BSUB -q" not in text
    assert text.rstrip().endswith("simrnn sweep worker --storage postgresql://me@db/s --study s1")


def test_slurm_script_uses_srun_with_one_task_per_gpu():
    text = batch_script("slurm", TRAIN + ["--devices", "2", "--strategy", "ddp"],
                        JobResources(gpus=2, cores=8, mem="64GB", walltime="8:00", queue="gpu", array=4))
    lines = text.splitlines()
    for expected in ("#SBATCH --job-name=simrnn", "#SBATCH --partition=gpu", "#SBATCH --nodes=1",
                     "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=64G",
                     "#SBATCH --time=08:00:00", "#SBATCH --gres=gpu:2", "#SBATCH --array=1-4",
                     "#SBATCH --output=simrnn_%A_%a.out", "export OMP_NUM_THREADS=4"):
        assert expected in lines
    assert lines[-1].startswith("srun simrnn fields train ")


def test_slurm_cpu_job():
    text = batch_script("slurm", ["simrnn", "demo"], JobResources(gpus=0, cores=3, mem="1500MB", walltime="90"))
    assert "--gres" not in text and "#SBATCH --ntasks-per-node=1" in text and "#SBATCH --cpus-per-task=3" in text
    assert "#SBATCH --mem=1500M" in text and "#SBATCH --time=01:30:00" in text and "#SBATCH --output=simrnn_%j.out" in text


def test_sizes_and_times():
    assert memory_mb("64GB") == 65536 and memory_mb("64G") == 65536 and memory_mb("0.5T") == 524288
    assert walltime_minutes("8:00") == 480 and walltime_minutes("1:30:01") == 91 and walltime_minutes("45") == 45
    for bad_mem in ("lots", "64XB"):
        with pytest.raises(UserInputError, match="is not a memory size"):
            memory_mb(bad_mem)
    for bad_time in ("8h", "1:75", "0:00", "²", "8:00\n"):
        with pytest.raises(UserInputError, match=r"\Awalltime ") as info:
            walltime_minutes(bad_time)
        assert info.value.key == "walltime"
    with pytest.raises(UserInputError, match="scheduler 'pbs'"):
        batch_script("pbs", TRAIN)
    with pytest.raises(UserInputError, match="no command to run"):
        batch_script("slurm", [])
    with pytest.raises(UserInputError, match="job_name 'my job'") as info:
        batch_script("slurm", TRAIN, JobResources(job_name="my job"))
    assert info.value.key == "job_name"


def test_cli_writes_the_script_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["hpc", "script", "--scheduler", "slurm", "--array", "3", "--gpus", "1", "--",
            "simrnn", "sweep", "worker", "--storage", "postgresql://me@db/s", "--study", "s1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    script = tmp_path / "simrnn.slurm.sh"
    assert "sbatch simrnn.slurm.sh" in result.output
    assert script.read_text().rstrip().endswith("srun simrnn sweep worker --storage postgresql://me@db/s --study s1")
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists already" in again.output
    shown = runner.invoke(app, ["hpc", "script", "--scheduler", "lsf", "--out", "-", "--", "simrnn", "demo"])
    assert shown.exit_code == 0 and shown.output.startswith("#!/bin/bash\n#BSUB")


@pytest.mark.parametrize(("resources", "message"), [
    ({"queue": "gpu\ntouch X"}, r"--queue 'gpu\\ntouch X' should use letters"),
    ({"queue": "gpu$(id)"}, r"--queue 'gpu\$\(id\)' should use letters"),
    ({"queue": "gpu\x07"}, r"--queue 'gpu\\x07' should use letters"),
    ({"job-name": "run\n"}, r"--job-name 'run\\n' should use letters"),
    ({"mem": "64GB\n"}, r"--mem '64GB\\n' is not a memory size"),
    ({"mem": " 64GB"}, r"--mem ' 64GB' is not a memory size"),
    ({"mem": "0GB"}, r"--mem '0GB' is less than 1 MB"),
    ({"mem": "0.0001M"}, r"--mem '0.0001M' is less than 1 MB"),
    ({"walltime": "²"}, r"--walltime '²' should be H:MM"),
    ({"gpus": "-1"}, r"--gpus -1: expected an integer from 0"),
    ({"array": "0"}, r"--array 0: expected an integer from 1"),
])
def test_unsafe_or_impossible_header_values_are_one_sentence_and_write_nothing(tmp_path, monkeypatch, resources,
                                                                              message):
    """Nothing that could break out of the header line (newline, $, control characters) passes."""
    monkeypatch.chdir(tmp_path)
    options = [f"--{key}={value}" for key, value in resources.items()]
    result = CliRunner().invoke(app, ["hpc", "script", "--scheduler", "slurm", *options, "--", "simrnn", "demo"])
    assert result.exit_code == 2
    assert re.fullmatch(rf"error: {message}.*\n", result.stderr, flags=re.S), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_options_after_the_job_command_belong_to_the_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["hpc", "script", "--scheduler", "slurm", "--out", "-",
                                      "simrnn", "fields", "train", "--out", "x", "--gpus", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "srun simrnn fields train --out x --gpus 3"
    assert "#SBATCH --gres=gpu:1" in result.stdout  # the script's own --gpus kept its default


def test_library_writes_the_script_and_never_overwrites(tmp_path):
    path = write_batch_script("lsf", ["simrnn", "demo"], JobResources(gpus=0), tmp_path / "job.sh")
    assert path.read_text().rstrip().endswith("simrnn demo")
    with pytest.raises(UserInputError, match="exists already") as info:
        write_batch_script("lsf", ["simrnn", "other"], JobResources(gpus=0), path)
    assert info.value.key == "out" and path.read_text().rstrip().endswith("simrnn demo")
