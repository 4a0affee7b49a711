"""An encode's progress on stderr: one estimate before training, then one ETA over every stage.

The trainer calibrates first (a few steps of each stage's real model, timed on this machine) and
plans its stages: Stage(name, units, seconds per unit). Then it reports units as they finish.
The ETA is what is left of the current stage at the rate observed in it, plus the later stages
at their calibrated rate corrected by how far the observed rate strayed from the calibrated one
(so a machine busier than during calibration lengthens the whole estimate, not one stage).

On a terminal a one-line bar is redrawn at most every REDRAW seconds; elsewhere (a log file, a
pipe, CI) a plain line is printed every SIEDD_PROGRESS_INTERVAL seconds (default 10) and at
every stage's start and end, with no carriage returns or terminal codes."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

REDRAW = 0.25               # seconds between terminal redraws
CALIBRATION_STEPS = 5       # a calibration times this many steps of a stage's model...
CALIBRATION_WARMUP = 2      # ...after these untimed ones (allocation, lazy set-up)
PLAIN_INTERVAL = 10.0       # seconds between plain lines (SIEDD_PROGRESS_INTERVAL overrides)
BAR = 20                    # bar width in characters


@dataclass
class Stage:
    name: str
    units: int              # steps (or frames) this process will run in the stage
    seconds: float | None   # calibrated seconds per unit; None: not known in advance
    unit: str = "step"


def clock_text(seconds: float) -> str:
    """3725 -> '1:02:05', 65 -> '1:05'."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plain_interval() -> float:
    raw = os.environ.get("SIEDD_PROGRESS_INTERVAL", "")
    try:
        value = float(raw)
    except ValueError:
        return PLAIN_INTERVAL
    return value if value > 0 else PLAIN_INTERVAL


class Progress:
    """enabled=False (--quiet, or a torchrun rank other than 0) prints nothing at all."""

    def __init__(self, enabled: bool = True, stream=None, tty: bool | None = None,
                 interval: float | None = None, clock=time.monotonic):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.interval = REDRAW if tty else (interval or plain_interval())
        self.clock = clock
        self.stages: list[Stage] = []
        self.index = -1                 # the current stage
        self.done = 0                   # units done in the current stage (skipped ones too)
        self.skipped = 0                # units of the current stage restored, not trained
        self.stage_t0 = 0.0
        self.correction = 1.0           # observed / calibrated seconds per unit, last stage
        self.detail = ""
        self._shown = 0.0
        self._bar_drawn = False

    # -- plan ----------------------------------------------------------------------------------
    def plan(self, stages: list[Stage], how: str = "") -> None:
        """The stages ahead, and the estimate printed before training starts."""
        self.stages = list(stages)
        total = self.remaining()
        if total is None:
            return
        parts = "; ".join(f"{s.name}: {s.units} {s.unit}s x {s.seconds:.3g} s"
                          for s in self.stages if s.units and s.seconds is not None)
        self.message(f"siedd: estimated training time {clock_text(total)} ({parts}"
                     + (f"; {how}" if how else "") + ")")

    def add(self, stage: Stage) -> None:
        """A stage known only later (the quality measurement after the file is written)."""
        self.stages.append(stage)

    def remaining(self) -> float | None:
        """Seconds left over the current and later stages; None when nothing is known."""
        left = 0.0
        known = False
        correction = self.correction
        for i, s in enumerate(self.stages):
            if i < self.index:
                continue
            if i == self.index:
                trained = self.done - self.skipped
                if trained > 0:
                    rate = (self.clock() - self.stage_t0) / trained
                    left += (s.units - self.done) * rate
                    known = True
                    if s.seconds:
                        correction = rate / s.seconds
                    continue
            if s.seconds is not None:
                units = s.units - (self.done if i == self.index else 0)
                left += units * s.seconds * correction
                known = True
        return left if known else None

    # -- events --------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        """Enter the stage `name` (one of plan's, or add's)."""
        if not self.enabled:
            return
        self._close_stage()
        self.index = next(i for i, s in enumerate(self.stages) if s.name == name)
        self.done = self.skipped = 0
        self.detail = ""
        self.stage_t0 = self.clock()
        s = self.stages[self.index]
        eta = self.remaining()
        self.message(f"siedd: {s.name}: {s.units} {s.unit}s"
                     + (f", about {clock_text(eta)} left in all" if eta is not None else ""))
        self._shown = self.clock()

    def advance(self, units: int = 1, detail: str | None = None) -> None:
        self.done += units
        if detail is not None:
            self.detail = detail
        self._maybe_show()

    def skip(self, units: int) -> None:
        """Units restored from saved work: done, at no cost in time."""
        self.done += units
        self.skipped += units
        self._maybe_show()

    def finish(self) -> None:
        self._close_stage()
        self.index = len(self.stages)

    def message(self, text: str) -> None:
        """A line of its own (the bar, if drawn, is cleared first and redrawn later)."""
        if not self.enabled:
            return
        if self._bar_drawn:
            self.stream.write("\r\x1b[K")
            self._bar_drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    # -- display -------------------------------------------------------------------------------
    def _close_stage(self) -> None:
        if not 0 <= self.index < len(self.stages):
            return
        s = self.stages[self.index]
        elapsed = self.clock() - self.stage_t0
        trained = self.done - self.skipped
        if trained > 0 and s.seconds:
            self.correction = elapsed / trained / s.seconds
        self.message(f"siedd: {s.name} done in {clock_text(elapsed)}"
                     + (f" ({self.skipped} {s.unit}s restored)" if self.skipped else ""))

    def status(self) -> str:
        s = self.stages[self.index]
        share = self.done / s.units if s.units else 1.0
        eta = self.remaining()
        text = f"{s.name} {self.done}/{s.units} {s.unit}s ({100 * share:.0f}%)"
        if self.detail:
            text += f" {self.detail}"
        text += f", elapsed {clock_text(self.clock() - self.stage_t0)}"
        return text + (f", ETA {clock_text(eta)}" if eta is not None else "")

    def _maybe_show(self) -> None:
        if not self.enabled or not 0 <= self.index < len(self.stages):
            return
        now = self.clock()
        if now - self._shown < self.interval:
            return
        self._shown = now
        if self.tty:
            s = self.stages[self.index]
            filled = round(BAR * min(1.0, self.done / s.units)) if s.units else BAR
            self.stream.write("\r\x1b[K[" + "#" * filled + "." * (BAR - filled) + "] "
                              + self.status())
            self._bar_drawn = True
        else:
            self.stream.write("siedd: " + self.status() + "\n")
        self.stream.flush()


class Stopwatch:
    """A calibration's seconds per step: run `Stopwatch.steps` steps, calling tick() after
    each; the first CALIBRATION_WARMUP are not timed. device_type "cuda": each tick waits for
    the GPU, so the time is the step's, not its launch's."""
    steps = CALIBRATION_STEPS + CALIBRATION_WARMUP

    def __init__(self, device_type: str = "cpu"):
        self.sync = lambda: None
        if device_type == "cuda":
            import torch
            self.sync = torch.cuda.synchronize
        self.calls = 0
        self.t0 = 0.0
        self.seconds = 0.0

    def tick(self) -> None:
        """Call after each step."""
        self.sync()
        self.calls += 1
        now = time.perf_counter()
        if self.calls == CALIBRATION_WARMUP:
            self.t0 = now
        elif self.calls > CALIBRATION_WARMUP:
            self.seconds = (now - self.t0) / (self.calls - CALIBRATION_WARMUP)
