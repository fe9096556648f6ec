"""Progress of the command line's long stages on stderr: tqdm's bars on a terminal, lines in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROGRESS_UNITS = {"describe": "image", "backfill": "file", "score": "night", "simulate": "file", "maps": "map"}
PROGRESS_INTERVAL_S = 10.0
PROGRESS_STEP = 0.1


class ProgressBars:
    """Progress on stderr, one bar or line per stage (``describe``, ``backfill``, ``score``, ``simulate``, ``maps``).

    On a terminal, tqdm's bars with rate and time left. Without one (cron, a pipe, a CI
    log), tqdm is silent, so a line is written per stage instead: when it starts, every
    ``interval_s`` seconds or ``step`` of the work, whichever comes first, and when it
    ends, with the counts, the rate and the time left.

    Parameters
    ----------
    stream
        Where to write (default: standard error at the time of entering).
    terminal
        Whether ``stream`` is a terminal (default: ask it).
    interval_s, step
        How often a line is written without a terminal.
    clock
        Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        terminal: bool | None = None,
        interval_s: float = PROGRESS_INTERVAL_S,
        step: float = PROGRESS_STEP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._terminal = stream, terminal
        self._interval_s, self._step, self._clock = interval_s, step, clock

    def __enter__(self):
        self._stream = self._stream or sys.stderr
        if self._terminal is None:
            self._terminal = bool(getattr(self._stream, "isatty", lambda: False)())
        self._bars: dict[str, Any] = {}
        self._stages: dict[str, _Stage] = {}
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._terminal:
            self._bar(stage, done, total)
        else:
            self._line(stage, done, total)

    def _bar(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            unit = PROGRESS_UNITS.get(stage, "item")
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=self._stream)
        bar.total = total
        bar.update(done - bar.n)

    def _line(self, stage: str, done: int, total: int) -> None:
        now = self._clock()
        state = self._stages.get(stage)
        if state is None:
            state = self._stages[stage] = _Stage(stage, start=now, first=done, printed=now, done=done, total=total)
        elif done != state.done or total != state.total:
            state.done, state.total = done, total
            due = now - state.printed >= self._interval_s or state.fraction - state.printed_fraction >= self._step
            if not (done >= total or due):
                return
        else:
            return
        state.printed, state.printed_fraction = now, state.fraction
        print(state.line(now), file=self._stream, flush=True)

    def __exit__(self, *exc_info) -> None:
        for bar in self._bars.values():
            bar.close()
        for state in self._stages.values():
            if state.done < state.total:
                print(f"{state.name}: stopped at {state.done:,} of {state.total:,} {state.units}", file=self._stream, flush=True)


@dataclass
class _Stage:
    """How far one stage of the work is, for progress lines without a terminal."""

    name: str
    start: float
    first: int
    printed: float
    done: int
    total: int
    printed_fraction: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def unit(self) -> str:
        return PROGRESS_UNITS.get(self.name, "item")

    @property
    def units(self) -> str:
        return self.unit if self.total == 1 else f"{self.unit}s"

    def line(self, now: float) -> str:
        """``describe: 120 of 356 images (34 %), 2.1 images/s, about 1 min 52 s left``, or the stage's end."""
        elapsed = now - self.start
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:.3g} {self.unit}s/s" if rate >= 1 else f"{1 / rate:.3g} s per {self.unit}" if rate > 0 else ""
        if self.done >= self.total and elapsed > 0:
            return f"{self.name}: {self.total:,} {self.units} done in {_duration(elapsed)}" + (f" ({speed})" if speed else "")
        text = f"{self.name}: {self.done:,} of {self.total:,} {self.units} ({100 * self.fraction:.0f} %)"
        return text + (f", {speed}, about {_duration((self.total - self.done) / rate)} left" if rate > 0 else "")


def _duration(seconds: float) -> str:
    """``45 s``, ``2 min 5 s``, ``1 h 3 min``: a time for people."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
