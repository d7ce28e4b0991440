"""Supervised background jobs: what a module runs for its app's lifetime.

A module's :meth:`~trading_api.shared.module_interface.Module.background_jobs`
returns coroutine functions (long-running loops) and :class:`PeriodicJob` steps.
The runtime runs each under a supervisor, so a failure is never silent:

* a :class:`PeriodicJob` step that raises is logged with its traceback and the
  job goes on at its next tick; a step that returns resets the failure count;
* a long-running coroutine that raises is logged with its traceback and started
  again after a delay that doubles from :attr:`JobPolicy.restart_delay` up to
  :attr:`JobPolicy.max_restart_delay`; a run that lasted
  :attr:`JobPolicy.healthy_after` seconds resets the failure count; one that
  returns is finished and not restarted.

A job with :attr:`JobPolicy.failures_before_unhealthy` consecutive failures makes
its module unhealthy: :meth:`JobSupervisor.health` (served by the core module's
``/health`` and each module's ``/health``) names the job and its last error until
it succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "Job",
    "JobHealth",
    "JobPolicy",
    "JobSupervisor",
    "ModuleHealth",
    "PeriodicJob",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """A step the runtime calls every ``interval`` seconds, supervised per step.

    Attributes:
        step: a function or coroutine function taking no argument.
        interval: seconds between the end of a step and the start of the next.
        name: how logs and health reports name the job; the step's qualified
            name by default.
    """

    step: Callable[[], Awaitable[None] | None]
    interval: float
    name: str = ""

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"PeriodicJob interval must be > 0, got {self.interval}")


Job = Callable[[], Coroutine[Any, Any, None]] | PeriodicJob
"""What ``background_jobs()`` returns: coroutine functions or periodic steps."""


@dataclass(frozen=True)
class JobPolicy:
    """When a failing job makes its module unhealthy, and how it is restarted.

    Attributes:
        failures_before_unhealthy: consecutive failures (failed steps, or runs
            of a long-running job) after which the module reports unhealthy.
        restart_delay: seconds before a failed long-running job starts again;
            doubles with each consecutive failure.
        max_restart_delay: the longest restart delay.
        healthy_after: seconds a long-running job must run before a failure no
            longer counts as consecutive with the previous one.
    """

    failures_before_unhealthy: int = 3
    restart_delay: float = 1.0
    max_restart_delay: float = 30.0
    healthy_after: float = 60.0

    def __post_init__(self) -> None:
        if self.failures_before_unhealthy < 1:
            raise ValueError("JobPolicy: failures_before_unhealthy must be >= 1")
        if not 0 <= self.restart_delay <= self.max_restart_delay:
            raise ValueError("JobPolicy: need 0 <= restart_delay <= max_restart_delay")


class JobHealth(BaseModel):
    """The state of one background job."""

    name: str = Field(description="The job, e.g. 'BrokerService.run'.")
    status: Literal["ok", "failing", "unhealthy", "finished"] = Field(
        description=(
            "ok: running without failures; failing: failed lately, fewer times in "
            "a row than the unhealthy threshold; unhealthy: at or past it; "
            "finished: returned and will not run again."
        )
    )
    consecutive_failures: int = Field(description="Failures since the last success.")
    failures: int = Field(description="Failures since the server started.")
    last_error: str | None = Field(
        default=None, description="The last failure, as 'ExceptionType: message'."
    )
    last_failure_at: float | None = Field(
        default=None, description="When it happened, UNIX seconds."
    )


class ModuleHealth(BaseModel):
    """A module's health: unhealthy while one of its jobs keeps failing."""

    status: Literal["ok", "unhealthy"]
    jobs: list[JobHealth] = Field(description="The module's background jobs.")


class _JobState:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.consecutive = 0
        self.last_error: str | None = None
        self.last_failure_at: float | None = None
        self.finished = False
        self.named = not name.startswith("job-")


class JobSupervisor:
    """Runs one module's background jobs and keeps their health."""

    def __init__(
        self, module: str, jobs: Sequence[Job], policy: JobPolicy = JobPolicy()
    ) -> None:
        self.module = module
        self.policy = policy
        self._jobs = list(jobs)
        self._states = [_JobState(_job_name(job, i)) for i, job in enumerate(jobs)]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every job as a task on the running loop."""
        for job, state in zip(self._jobs, self._states, strict=True):
            run = (
                self._periodic(job, state)
                if isinstance(job, PeriodicJob)
                else self._long_running(job, state)
            )
            name = f"{self.module} job {state.name}"
            self._tasks.append(asyncio.create_task(run, name=name))

    async def stop(self) -> None:
        """Cancel every job and wait for it to finish."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def health(self) -> ModuleHealth:
        """The module's health from its jobs' states right now."""
        threshold = self.policy.failures_before_unhealthy
        jobs = [
            JobHealth(
                name=s.name,
                status=_status(s, threshold),
                consecutive_failures=s.consecutive,
                failures=s.failures,
                last_error=s.last_error,
                last_failure_at=s.last_failure_at,
            )
            for s in self._states
        ]
        bad = any(job.status == "unhealthy" for job in jobs)
        return ModuleHealth(status="unhealthy" if bad else "ok", jobs=jobs)

    async def _periodic(self, job: PeriodicJob, state: _JobState) -> None:
        while True:
            await asyncio.sleep(job.interval)
            try:
                result = job.step()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._failed(state, exc, "it runs again at its next step")
            else:
                state.consecutive = 0

    async def _long_running(
        self, job: Callable[[], Coroutine[Any, Any, None]], state: _JobState
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                run = job()
                if not state.named:  # a lambda: name it after what it runs
                    state.name = getattr(run, "__qualname__", state.name)
                    state.named = True
                await run
            except Exception as exc:
                if loop.time() - started >= self.policy.healthy_after:
                    state.consecutive = 0
                delay = min(
                    self.policy.restart_delay * 2**state.consecutive,
                    self.policy.max_restart_delay,
                )
                self._failed(state, exc, f"restarting it in {delay:g} s")
                await asyncio.sleep(delay)
            else:
                state.finished = True
                state.consecutive = 0
                logger.info("module %r: job %r finished", self.module, state.name)
                return

    def _failed(self, state: _JobState, exc: Exception, next_step: str) -> None:
        state.failures += 1
        state.consecutive += 1
        state.last_error = f"{type(exc).__name__}: {exc}"
        state.last_failure_at = time.time()
        unhealthy = state.consecutive >= self.policy.failures_before_unhealthy
        logger.error(
            "module %r: background job %r failed (%d in a row%s); %s",
            self.module,
            state.name,
            state.consecutive,
            ", module unhealthy" if unhealthy else "",
            next_step,
            exc_info=exc,
        )


def _status(
    state: _JobState, threshold: int
) -> Literal["ok", "failing", "unhealthy", "finished"]:
    if state.consecutive >= threshold:
        return "unhealthy"
    if state.consecutive:
        return "failing"
    return "finished" if state.finished else "ok"


def _job_name(job: Job, index: int) -> str:
    if isinstance(job, PeriodicJob):
        target: Any = job.step
        if job.name:
            return job.name
    else:
        target = job
    name = getattr(target, "__qualname__", "")
    if not name or "<lambda>" in name:
        return f"job-{index + 1}"
    return str(name)
