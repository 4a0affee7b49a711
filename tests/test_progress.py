"""Encode progress: an estimate before training from a calibration, one ETA over the stages,
redrawn by time on a terminal and plain lines elsewhere; --json keeps it, --quiet drops it, and
none of it changes the file."""
import io
import json
import os
import pty
import re
import subprocess

from siedd_codec.progress import Progress, Stage, clock_text
from conftest import run_env

SMALL = ["--frames", 4, "--group-size", 2, "--steps", 30, "--anchor-steps", 30,
         "--set", "hidden=16", "--set", "anchors=2", "--device", "cpu"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_one_eta_over_the_stages_from_the_calibration_and_the_observed_rate():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, tty=False, interval=5, clock=clock)
    progress.plan([Stage("phase 1", 10, 1.0), Stage("phase 2", 10, 2.0)], "timed here")
    assert "estimated training time 0:30" in out.getvalue()     # 10 x 1 + 10 x 2
    progress.start("phase 1")
    for _ in range(5):                 # twice as slow as calibrated...
        clock.now += 2.0
        progress.advance(1)
    # ...so the rest of this stage and the next one are expected twice as slow too
    assert progress.remaining() == 5 * 2.0 + 10 * 2.0 * 2.0
    for _ in range(5):
        clock.now += 2.0
        progress.advance(1)
    progress.start("phase 2")
    assert progress.remaining() == 10 * 2.0 * 2.0    # the correction carries over
    progress.skip(4)                                   # restored: done at no cost
    clock.now += 3.0
    progress.advance(1)
    assert progress.remaining() == 5 * 3.0
    progress.finish()
    text = out.getvalue()
    assert "phase 1 done in 0:20" in text and "(4 steps restored)" in text
    assert "\r" not in text and "\x1b" not in text


def test_plain_lines_come_by_time_not_by_step():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, tty=False, interval=10, clock=clock)
    progress.plan([Stage("phase 1", 1000, 0.1)])
    progress.start("phase 1")
    for _ in range(1000):              # 100 s of steps of 0.1 s: a line every 10 s
        clock.now += 0.1
        progress.advance(1, "group 1/1")
    lines = [line for line in out.getvalue().splitlines() if "ETA" in line]
    assert 9 <= len(lines) <= 11, lines
    assert all(line.startswith("siedd: phase 1 ") for line in lines)
    slow_out = io.StringIO()           # a step of 30 s: every step shows
    slow = Progress(stream=slow_out, tty=False, interval=10, clock=clock)
    slow.plan([Stage("phase 1", 3, 30.0)])
    slow.start("phase 1")
    for _ in range(3):
        clock.now += 30.0
        slow.advance(1)
    assert sum("ETA" in line for line in slow_out.getvalue().splitlines()) == 3


def test_terminal_bar_redraws_in_place_and_messages_clear_it():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, tty=True, clock=clock)
    progress.plan([Stage("phase 1", 100, 0.5)])
    progress.start("phase 1")
    for _ in range(100):
        clock.now += 0.5
        progress.advance(1)
    progress.message("a line of its own")
    text = out.getvalue()
    assert text.count("\r\x1b[K[") >= 50           # one redraw per 0.5 s step (every 0.25 s max)
    assert "\r\x1b[Ka line of its own\n" in text


def test_quiet_prints_nothing():
    out = io.StringIO()
    progress = Progress(enabled=False, stream=out, tty=False)
    progress.plan([Stage("phase 1", 10, 1.0)])
    progress.start("phase 1")
    progress.advance(5)
    progress.finish()
    assert out.getvalue() == ""
    assert clock_text(3725) == "1:02:05" and clock_text(65) == "1:05"


def test_cli_progress_on_a_pipe_and_json_and_quiet_give_the_same_file(siedd_cli, carphone,
                                                                       tmp_path):
    env = run_env() | {"SIEDD_PROGRESS_INTERVAL": "0.01"}
    out = tmp_path / "p.siedd"
    piped = subprocess.run(siedd_cli + ["encode", str(carphone), "-o", str(out), "--json"]
                           + [str(a) for a in SMALL], capture_output=True, text=True,
                           timeout=300, env=env)
    assert piped.returncode == 0, piped.stderr
    summary = json.loads(piped.stdout)                 # stdout: the JSON object alone
    assert summary["bytes"] == out.stat().st_size
    err = piped.stderr
    assert re.search(r"estimated training time \d+:\d\d \(phase 1: 30 steps x [\d.e-]+ s; "
                     r"phase 2: 60 steps x [\d.e-]+ s; timed on 5 steps", err), err
    assert err.index("estimated training time") < err.index("phase 1: 30 steps")
    assert re.search(r"phase 2 \d+/60 steps .*group \d/2.*ETA \d+:\d\d", err), err
    assert "measuring quality" in err
    assert "\r" not in err and "\x1b" not in err      # not a terminal: plain lines
    quiet_out = tmp_path / "q.siedd"
    quiet = subprocess.run(siedd_cli + ["encode", str(carphone), "-o", str(quiet_out), "--json",
                                        "--quiet"] + [str(a) for a in SMALL],
                           capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    # the calibration (run only when progress shows) trains nothing that reaches the file
    assert quiet_out.read_bytes() == out.read_bytes()


def test_cli_progress_on_a_terminal_redraws_one_line(siedd_cli, carphone, tmp_path):
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(siedd_cli + ["encode", str(carphone), "-o",
                                             str(tmp_path / "t.siedd")] + [str(a) for a in SMALL],
                                stdout=subprocess.PIPE, stderr=secondary, env=run_env())
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:            # the terminal closed with the process
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=300)
    finally:
        os.close(primary)
    assert proc.returncode == 0
    text = b"".join(chunks).decode()
    assert "estimated training time" in text
    assert "\r\x1b[K[" in text and "ETA" in text
