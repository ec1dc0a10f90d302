"""Backdated runs: timestamps spread over a span of the past, busier by day than by night."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

# Relative traffic in each hour of the day (UTC): a bank's card and transfer traffic sleeps at
# night and peaks through the working day. Only the shape matters (it is normalised).
DAY_SHAPE = (0.20, 0.14, 0.10, 0.08, 0.08, 0.12, 0.25, 0.50, 0.80, 0.95, 1.00, 1.00,
             0.95, 1.00, 1.00, 0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.50, 0.40, 0.30)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Slot:
    """The stretch of time an item may be stamped in: [start, end)."""

    start: datetime
    end: datetime


class Spread:
    """`items` timestamps over [start, end): item k falls in the k-th of `items` equal shares of
    the span's traffic (shorter slots by day, longer at night), so the stream stays in time
    order, never leaves the span, and every hour of it sees traffic in proportion to DAY_SHAPE."""

    def __init__(self, start: datetime, end: datetime, items: int) -> None:
        if not start < end or items < 1:
            raise ValueError("a spread needs start < end and at least one item")
        self.items = items
        # Pieces of the span cut at whole hours: (piece start, seconds, traffic per second).
        self._starts: list[datetime] = []
        self._seconds: list[float] = []
        self._rates: list[float] = []
        self._cumulative: list[float] = [0.0]  # traffic before each piece
        moment = start
        while moment < end:
            edge = min(moment.replace(minute=0, second=0, microsecond=0) + HOUR, end)
            seconds = (edge - moment).total_seconds()
            rate = DAY_SHAPE[moment.hour]
            self._starts.append(moment)
            self._seconds.append(seconds)
            self._rates.append(rate)
            self._cumulative.append(self._cumulative[-1] + seconds * rate)
            moment = edge
        self.end = end

    def at(self, share: float) -> datetime:
        """The moment by which `share` (0 to 1) of the span's traffic has happened."""
        total = self._cumulative[-1]
        wanted = min(max(share, 0.0), 1.0) * total
        piece = min(bisect.bisect_right(self._cumulative, wanted) - 1, len(self._starts) - 1)
        into = (wanted - self._cumulative[piece]) / self._rates[piece]
        return min(self._starts[piece] + timedelta(seconds=min(into, self._seconds[piece])),
                   self.end)

    def slot(self, k: int) -> Slot:
        """Where item k (counted from 0) belongs; past the last item, the span's very end."""
        k = min(k, self.items - 1)
        return Slot(self.at(k / self.items), self.at((k + 1) / self.items))
