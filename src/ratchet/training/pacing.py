"""Keep a planned schedule inside its deadline when the machine turns out slower than measured.

The budget plan (training.plan) fits the schedule to a speed measured on a few batches. That
speed leaves out what the loop does besides training (evaluations, checkpoint writes) and cannot
see another process taking the cores later. Without a check, such a fit runs into the deadline
with its learning rate still high and is cut mid-schedule. The pace here is the whole loop's wall
time per optimizer step; when the steps left would end past the deadline, the schedule is
shortened so that its decay ends in time (the hard stop at the deadline stays as a last resort).
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("ratchet")

SAFETY = 0.85
"""Share of the time left that the shortened schedule counts on."""
SKIP_STEPS = 3
"""Steps not timed: the first ones carry one-off costs (kernels built for each new batch shape)."""
MIN_STEPS = 5
MIN_SHARE = 0.05
"""The pace is trusted after at least MIN_STEPS timed steps that are MIN_SHARE of the schedule or took
MIN_SHARE of the time to the deadline. On 28,000 tweets a pace trusted after 5 steps cut a 4-epoch plan
to 2.4 epochs, which then ended 11 minutes before the deadline."""


class DeadlinePace:
    def __init__(self, deadline: float | None, start_step: int) -> None:
        self.deadline, self.start_step = deadline, start_step
        self.mark: tuple[int, float] | None = None
        """(step, time) from which the pace is timed."""
        self.shortened: dict[str, int] | None = None
        """Where and to how many steps the schedule was shortened (None: it was not)."""

    def shortened_total(self, step: int, total: int) -> int | None:
        """A smaller total step count that ends before the deadline, or None when ``total`` still does."""
        if self.deadline is None or step >= total:
            return None
        now = time.time()
        if self.mark is None:
            if step - self.start_step >= SKIP_STEPS:
                self.mark = (step, now)
            return None
        timed, waited = step - self.mark[0], now - self.mark[1]
        enough = timed >= MIN_SHARE * (total - self.mark[0]) or waited >= MIN_SHARE * (self.deadline - self.mark[1])
        if timed < MIN_STEPS or not enough:
            return None
        pace = (now - self.mark[1]) / timed
        if now + pace * (total - step) <= self.deadline:
            return None
        affordable = int(max(self.deadline - now, 0.0) * SAFETY / pace)
        return max(step + 1, min(total - 1, step + affordable))

    def keep_in_time(self, schedule: Any, step: int, total: int) -> int:
        """The total step count to train to: ``total``, or fewer with ``schedule`` shortened to end in time."""
        sooner = self.shortened_total(step, total)
        if sooner is None:
            return total
        schedule.shorten(step, sooner)
        planned = total if self.shortened is None else self.shortened["planned_steps"]
        self.shortened = {"at_step": step, "planned_steps": planned, "steps": sooner}
        log.info("slower than planned: the schedule ends at step %d of %d, before the deadline", sooner, planned)
        return sooner
