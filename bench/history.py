"""What a workflow history says about time: when each activity and timer ran, and its children."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
TIMER_ENDS = {
    EventType.EVENT_TYPE_TIMER_FIRED: "timer_fired_event_attributes",
    EventType.EVENT_TYPE_TIMER_CANCELED: "timer_canceled_event_attributes",
}

Interval = tuple[float, float]  # seconds since the epoch


def seconds(event) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass
class Timing:
    workflow_id: str
    started: float = 0.0
    closed: float = 0.0
    activities: list[Interval] = field(default_factory=list)  # started → ended: the activity's own time
    queued: list[float] = field(default_factory=list)  # scheduled → started, per activity
    activity_types: list[str] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    timers: list[Interval] = field(default_factory=list)  # started → fired or cancelled
    children: list[str] = field(default_factory=list)
    workflow_task_failures: int = 0


def timing(history: WorkflowHistory) -> Timing:
    result = Timing(history.workflow_id)
    events = history.events
    by_id = {event.event_id: event for event in events}
    activity_started: dict[int, object] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            result.started = seconds(event)
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        ):
            result.closed = seconds(event)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            activity_started[attributes.scheduled_event_id] = event
        elif kind in ACTIVITY_ENDS:
            attributes = getattr(event, ACTIVITY_ENDS[kind])
            scheduled = by_id[attributes.scheduled_event_id]
            started = activity_started.get(attributes.scheduled_event_id)
            begin = seconds(started) if started is not None else seconds(scheduled)
            result.activities.append((begin, seconds(event)))
            result.queued.append(begin - seconds(scheduled))
            result.activity_types.append(scheduled.activity_task_scheduled_event_attributes.activity_type.name)
            result.attempts.append(started.activity_task_started_event_attributes.attempt if started is not None else 0)
        elif kind in TIMER_ENDS:
            started = by_id[getattr(event, TIMER_ENDS[kind]).started_event_id]
            result.timers.append((seconds(started), seconds(event)))
        elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            result.children.append(
                event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            )
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT):
            result.workflow_task_failures += 1
    return result


async def timings(client: Client, workflow_id: str) -> list[Timing]:
    """The workflow's timing and its children's, depth first."""
    found = [timing(await client.get_workflow_handle(workflow_id).fetch_history())]
    for child in found[0].children:
        found += await timings(client, child)
    return found


def union_length(intervals: list[Interval]) -> float:
    total, end = 0.0, float("-inf")
    for begin, finish in sorted(intervals):
        if finish <= end:
            continue
        total += finish - max(begin, end)
        end = finish
    return total


@dataclass
class FiredTimer:
    duration: timedelta
    started: float  # TimerStarted
    fired: float  # TimerFired
    woke: float | None  # the next WorkflowTaskStarted: when the worker picked the wake-up up

    @property
    def late_s(self) -> float:
        return self.fired - (self.started + self.duration.total_seconds())

    @property
    def woke_late_s(self) -> float | None:
        return None if self.woke is None else self.woke - (self.started + self.duration.total_seconds())


def fired_timers(history: WorkflowHistory) -> list[FiredTimer]:
    events = history.events
    by_id = {event.event_id: event for event in events}
    fired: list[FiredTimer] = []
    for index, event in enumerate(events):
        if event.event_type != EventType.EVENT_TYPE_TIMER_FIRED:
            continue
        started = by_id[event.timer_fired_event_attributes.started_event_id]
        woke = next(
            (
                seconds(later)
                for later in events[index + 1 :]
                if later.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
            ),
            None,
        )
        duration = started.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        fired.append(FiredTimer(duration, seconds(started), seconds(event), woke))
    return fired
