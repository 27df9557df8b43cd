"""Kubernetes CronJob schedules: parse, and measure the longest wait between two runs (pure).

Kubernetes parses `spec.schedule` with robfig/cron's standard parser (kubernetes/kubernetes
pkg/controller/cronjob/utils.go `cron.ParseStandard`): five fields (minute, hour, day of month, month, day of week),
each `*`, `?`, a value, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those; month and weekday names
(JAN, MON); and the descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly. When both
day fields are restricted a day matches either of them; when either is `*`/`?` both must match (robfig/cron
spec.go `dayMatches`). The program sets `timeZone: Etc/UTC`, so schedules here are read in UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {n: i + 1 for i, n in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {n: i for i, n in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (name, lowest, highest, names)
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 6, _DAYS))
# Long enough to contain every leap-year and weekday combination a five-field schedule can express.
_HORIZON_DAYS = 8 * 366
_EPOCH = dt.date(2024, 1, 1)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_star: bool
    dow_star: bool

    def fires_on(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days_of_month
        dow = (day.isoweekday() % 7) in self.days_of_week
        return dom and dow if self.dom_star or self.dow_star else dom or dow

    def _firing_days(self) -> tuple[int, ...]:
        return _firing_days(self)

    def max_interval_seconds(self) -> int:
        """The longest time between two consecutive runs (what a staleness alert must tolerate)."""
        days = self._firing_days()
        if len(days) < 2:
            raise CronError(f"{self.text!r} runs fewer than twice in {_HORIZON_DAYS // 366} years")
        times = sorted(h * 60 + m for h in self.hours for m in self.minutes)
        within = max((b - a for a, b in zip(times, times[1:])), default=0)
        across = max((b - a) * 1440 - times[-1] + times[0] for a, b in zip(days, days[1:]))
        return max(within, across) * 60

    def runs_per_day(self) -> float:
        """Average runs per day over the horizon (what retention multiplies into stored copies)."""
        return len(self._firing_days()) * len(self.hours) * len(self.minutes) / _HORIZON_DAYS


@functools.cache
def _firing_days(schedule: Schedule) -> tuple[int, ...]:
    # Once per schedule: validation, the backup summary and the alert threshold each ask, at ~3000 dates a time.
    return tuple(i for i in range(_HORIZON_DAYS) if schedule.fires_on(_EPOCH + dt.timedelta(days=i)))


def _value(token: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        raise CronError(f"{field} value {token!r} is not a number" + (f" or a name ({', '.join(names)})"
                                                                        if names else ""))
    number = int(token)
    if not lo <= number <= hi:
        raise CronError(f"{field} value {number} is outside {lo}-{hi}")
    return number


def _field(text: str, lo: int, hi: int, names: dict[str, int], field: str) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = lo, hi
            star = star or step == 1
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, lo, hi, names, field), _value(last, lo, hi, names, field)
            if start > end:
                raise CronError(f"{field} range {base!r} runs backwards")
        else:
            start = _value(base, lo, hi, names, field)
            end = hi if step_text else start
        values.update(range(start, end + 1, step))
    return values, star


def parse(text: str) -> Schedule:
    """A schedule as Kubernetes reads it; raises CronError naming the bad field."""
    expanded = DESCRIPTORS.get(text.strip().lower(), text)
    if expanded.strip().startswith(("TZ=", "CRON_TZ=")):
        raise CronError("a time zone inside the schedule is refused by Kubernetes; schedules here are UTC")
    parts = expanded.split()
    if len(parts) != 5:
        raise CronError(f"{text!r} has {len(parts)} fields; a schedule has five (minute hour day-of-month month "
                        f"day-of-week), e.g. '0 2 * * *', or a descriptor ({', '.join(DESCRIPTORS)})")
    parsed = [_field(p, lo, hi, names, field) for p, (field, lo, hi, names) in zip(parts, _FIELDS)]
    (minutes, _), (hours, _), (dom, dom_star), (months, _), (dow, dow_star) = parsed
    return Schedule(text, tuple(sorted(minutes)), tuple(sorted(hours)), frozenset(dom), frozenset(months),
                    frozenset(dow), dom_star, dow_star)
