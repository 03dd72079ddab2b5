"""Wall and CPU time of a block of code in this process."""

from __future__ import annotations

import resource
import time


class CpuClock:
    """Wall time, this process's user and system CPU time, and its page faults over a `with`
    block (system time and faults tell memory churn from computation)."""

    def __enter__(self) -> CpuClock:
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall = time.perf_counter() - self._started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.user = usage.ru_utime - self._usage.ru_utime
        self.system = usage.ru_stime - self._usage.ru_stime
        self.faults = usage.ru_minflt - self._usage.ru_minflt

    def shares(self) -> dict[str, float]:
        """User and system CPU as percent of wall time (200 % = two busy cores), and page
        faults per second."""
        return {
            "user": 100 * self.user / self.wall,
            "system": 100 * self.system / self.wall,
            "faults_per_s": self.faults / self.wall,
        }

    @property
    def cpu(self) -> float:
        """User plus system CPU seconds: over one core, a block can use more than its wall time."""
        return self.user + self.system
