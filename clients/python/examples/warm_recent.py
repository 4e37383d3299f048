#!/usr/bin/env python3
"""Warm the gateway's lookup caches with the calls of the last N hours, after a deploy.

    RECGW_URL=https://recgw.internal RECGW_API_KEY="$ADMIN_JWT" python warm_recent.py --hours 6

The period is walked oldest first in windows (`--window-minutes`); each window is one
POST /api/v1/admin/cache/warm with `since`, `until` and `--batch-limit`. A window that
comes back full is split in two and redone, so no call is skipped. 429 and 503 are retried
with exponential backoff (honouring Retry-After); a window that still fails is reported
and the script goes on. Ends with a summary; exits 1 if any window failed.
Needs recgw-client and tqdm.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from tqdm import tqdm

from recgw_client import RateLimitError, RecgwClient, RecgwError, ServiceUnavailableError, WarmResult

Window = Tuple[dt.datetime, dt.datetime]


@dataclass
class Summary:
    windows: int = 0
    splits: int = 0
    truncated: int = 0
    warmed: int = 0
    missing: int = 0
    without_recording: int = 0
    redis_failed: int = 0
    retries: int = 0
    failed: List[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> List[str]:
        out = [f"windows warmed:     {self.windows} ({self.splits} split because they were full)",
               f"still full at 2 s:  {self.truncated} (raise --batch-limit to be sure none was cut)",
               f"lookups written:    {self.warmed}",
               f"without recording:  {self.without_recording}",
               f"redis failures:     {self.redis_failed}",
               f"retries (429/503):  {self.retries}",
               f"failed windows:     {len(self.failed)}",
               f"took:               {self.seconds:.1f} s"]
        out += [f"  failed: {f}" for f in self.failed]
        return out


def warm_with_retry(client: RecgwClient, window: Window, limit: int, max_retries: int, summary: Summary,
                    sleep: Callable[[float], None] = time.sleep) -> WarmResult:
    """One window; 429/503 retried with backoff (Retry-After when the gateway sends one)."""
    attempt = 0
    while True:
        try:
            return client.admin.warm(since=window[0], until=window[1], limit=limit)
        except (RateLimitError, ServiceUnavailableError) as e:
            attempt += 1
            if attempt > max_retries:
                raise
            summary.retries += 1
            delay = e.retry_after if e.retry_after is not None else min(30.0, 0.5 * 2 ** (attempt - 1))
            sleep(delay + random.uniform(0, delay / 4))


def warm_recent(client: RecgwClient, hours: float, window_minutes: float = 10, limit: int = 5000,
                max_retries: int = 5, now: Optional[dt.datetime] = None, show_progress: bool = True,
                sleep: Callable[[float], None] = time.sleep) -> Summary:
    summary = Summary()
    started = time.monotonic()
    end = now or dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(hours=hours)
    step = dt.timedelta(minutes=window_minutes)
    pending: List[Window] = []
    t = start
    while t < end:
        pending.append((t, min(t + step, end)))
        t += step
    bar = tqdm(total=round((end - start).total_seconds() / 60, 1), unit="min", disable=not show_progress,
               desc="warming", bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} min [{elapsed}<{remaining}{postfix}]")
    try:
        while pending:
            window = pending.pop(0)
            try:
                result = warm_with_retry(client, window, limit, max_retries, summary, sleep)
            except RecgwError as e:
                summary.failed.append(f"{window[0]:%Y-%m-%dT%H:%M:%SZ}..{window[1]:%H:%M:%SZ}: {e}")
                bar.update((window[1] - window[0]).total_seconds() / 60)
                continue
            written = result.warmed + result.redis_failed + result.without_recording
            if written >= limit:
                if window[1] - window[0] > dt.timedelta(seconds=2):
                    # Full: calls may have been left out. Redo it as two halves (re-warming is harmless).
                    middle = window[0] + (window[1] - window[0]) / 2
                    pending[:0] = [(window[0], middle), (middle, window[1])]
                    summary.splits += 1
                    continue
                summary.truncated += 1
            summary.windows += 1
            summary.warmed += result.warmed
            summary.missing += result.missing
            summary.without_recording += result.without_recording
            summary.redis_failed += result.redis_failed
            bar.update((window[1] - window[0]).total_seconds() / 60)
            bar.set_postfix(warmed=summary.warmed, retries=summary.retries, failed=len(summary.failed))
    finally:
        bar.close()
    summary.seconds = time.monotonic() - started
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24, help="how far back (default 24)")
    p.add_argument("--window-minutes", type=float, default=10, help="period per request (default 10)")
    p.add_argument("--batch-limit", type=int, default=5000, help="most calls per request (default 5000)")
    p.add_argument("--max-retries", type=int, default=5, help="per window, on 429/503 (default 5)")
    p.add_argument("--end", help="end of the period, ISO 8601 (default now)")
    p.add_argument("--url", help="gateway URL (default RECGW_URL)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    args = p.parse_args(argv)
    if args.hours <= 0 or args.window_minutes <= 0 or args.batch_limit < 1:
        p.error("--hours and --window-minutes must be positive, --batch-limit at least 1")
    end = None
    if args.end:
        end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
        end = end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc)
    with RecgwClient(args.url) as client:
        summary = warm_recent(client, args.hours, args.window_minutes, args.batch_limit, args.max_retries,
                              now=end, show_progress=not args.no_progress)
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
