"""Encodes spread over processes by torchrun (siedd_codec/distributed.py), with real gloo
process groups on this CPU: the file does not depend on the number of ranks, a killed job
resumes with any number of ranks, and what cannot run distributed is one clear line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import run_env, same_encode

# 4 groups of 4 frames, a key group every 2: two chains, one per rank
ARGS = ["--frames", "16", "--size", "64x48", "--preset", "tiny", "--group-size", "4",
        "--steps", "20", "--anchor-steps", "20", "--device", "cpu", "--json"]
GRID_ARGS = ["--frames", "12", "--size", "64x48", "--preset", "grid-tiny", "--group-size", "4",
             "--steps", "20", "--device", "cpu", "--json"]
TIMEOUT = 600


def torchrun(ranks: int, *args) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={ranks}", *args]


def one_thread_env() -> dict:
    # every rank runs one thread (torchrun's default); the single process the same
    return {**run_env(), "OMP_NUM_THREADS": "1"}


def encode(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=one_thread_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


def test_one_and_two_ranks_give_the_same_file(carphone, siedd_cli, tmp_path):
    alone, two = tmp_path / "one.siedd", tmp_path / "two.siedd"
    single = encode([*siedd_cli, "encode", str(carphone), "-o", str(alone), *ARGS])
    assert single.returncode == 0, single.stderr
    ranks = encode(torchrun(2, "--no-python", *siedd_cli, "encode", str(carphone), "-o",
                            str(two), *ARGS))
    assert ranks.returncode == 0, ranks.stderr[-2000:]
    assert same_encode(alone, two)
    # one summary, from rank 0
    summary = json.loads(ranks.stdout)
    assert summary["groups"] == 4 and summary["output"] == str(two)
    assert not (tmp_path / "two.siedd.partial").exists()


def test_grid_family_through_python_m(carphone, siedd_cli, tmp_path):
    alone, two = tmp_path / "one.siedd", tmp_path / "two.siedd"
    assert encode([*siedd_cli, "encode", str(carphone), "-o", str(alone), *GRID_ARGS]
                  ).returncode == 0
    ranks = encode(torchrun(2, "-m", "siedd_codec", "encode", str(carphone), "-o", str(two),
                            *GRID_ARGS))
    assert ranks.returncode == 0, ranks.stderr[-2000:]
    assert same_encode(alone, two)


def test_a_dead_rank_stops_the_job_and_the_work_resumes(carphone, siedd_cli, tmp_path):
    """Once a group is saved, one rank is killed (SIGKILL): torchrun stops the other and fails
    the job, nobody hangs; a rerun with --resume in one process restores what was saved and
    gives the uninterrupted encode's file."""
    whole, out = tmp_path / "whole.siedd", tmp_path / "killed.siedd"
    args = [*ARGS, "--steps", "60"]
    assert encode([*siedd_cli, "encode", str(carphone), "-o", str(whole), *args]
                  ).returncode == 0
    partial = tmp_path / "killed.siedd.partial"
    job = subprocess.Popen(torchrun(2, "--no-python", *siedd_cli, "encode", str(carphone), "-o",
                                    str(out), *args),
                           env=one_thread_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not list(partial.glob("group_*.npz")):
            assert job.poll() is None, "the job ended before a rank could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers = children(job.pid)
        assert len(workers) == 2
        os.kill(workers[-1], signal.SIGKILL)
        assert job.wait(timeout=120) != 0
    finally:
        if job.poll() is None:
            job.kill()
    assert not any(alive(pid) for pid in workers)
    assert not out.exists()
    again = encode([*siedd_cli, "encode", str(carphone), "-o", str(out), *args, "--resume"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["groups_restored"] >= 1
    assert same_encode(whole, out)


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_rate_control_under_torchrun_is_one_clear_error(carphone, siedd_cli, tmp_path):
    out = tmp_path / "rc.siedd"
    result = encode(torchrun(2, "--no-python", *siedd_cli, "encode", str(carphone), "-o",
                             str(out), *ARGS, "--bpp", "0.5"))
    assert result.returncode != 0 and not out.exists()
    lines = [line for line in result.stderr.splitlines() if line.startswith("siedd: error:")]
    assert lines and "one process" in lines[0] and "--quality" in lines[0]
    assert "Traceback" not in "\n".join(line for line in result.stderr.splitlines()
                                        if line.startswith("siedd"))
