"""`tryvoha import-history | stats | episodes`: the historical record, straight on the store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, BinaryIO, cast

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from tryvoha.cli.output import console, fail
from tryvoha.cli.tokens import StoreOption, on_store
from tryvoha.data import region_tree
from tryvoha.data.history import CONSOLIDATED_FILE, OFFICIAL_FILE
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.domain.history import Plan, Source, Span
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.stats import By, RegionStats
from tryvoha.engine.history import WriteReport, covered_spans, plan_for, read_file, write_plan
from tryvoha.engine.statistics import (
    DEFAULT_DAYS,
    DEFAULT_TZ,
    Period,
    PeriodError,
    choose_period,
    nationwide_episodes,
    oblast_stats,
    stats_for,
)
from tryvoha.protocol.history_csv import HistoryFormatError, ParsedHistory, PlaceNames
from tryvoha.protocol.stats_json import (
    episodes_to_json,
    history_to_json,
    stats_to_json,
    summaries_to_json,
)
from tryvoha.store import Store
from tryvoha.web.names import display_name


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@contextmanager
def _opened(file: Path | None, name: str) -> Iterator[tuple[IO[bytes], str]]:
    """A user's file, or a shipped one when file is None; with a name to show."""
    if file is None:
        with resources.files("tryvoha.data.history").joinpath(name).open("rb") as f:
            yield f, f"{name} (shipped)"
        return
    try:
        f = file.open("rb")
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    with f:
        yield f, str(file)


def _read(
    progress: Progress, names: PlaceNames, file: Path | None, name: str
) -> tuple[str, ParsedHistory]:
    with _opened(file, name) as (raw, shown):
        size = raw.seek(0, 2)
        raw.seek(0)
        with progress.wrap_file(
            cast(BinaryIO, raw), total=size, description=f"reading {shown}"
        ) as wrapped:
            try:
                parsed = read_file(wrapped, names)
            except HistoryFormatError as e:
                fail(f"{shown}: {e}")
    return shown, parsed


def import_history(
    file: Path | None = typer.Argument(
        None,
        help="a history CSV: the upstream official_data_en.csv (or _uk) or a newer download "
        "of it, plain or .gz; default: the shipped record",
    ),
    store: str = StoreOption,
    continued: bool = typer.Option(
        True,
        "--continue/--no-continue",
        help="continue with the shipped consolidated record where the official one ends "
        "(to 2026-06; oblast level only, an alert there means 'some alert in this oblast')",
    ),
    show: int = typer.Option(5, help="rejected rows to show for each reason"),
) -> None:
    """Import the alert record since 2022 as events: idempotent, rows explained.

    Each alert becomes alert.declared and alert.cleared at its original times, issued by
    history:official or history:consolidated. See docs/history.md for the rules."""
    tree = region_tree()
    names = PlaceNames(tree)
    with _progress() as progress:
        files = [_read(progress, names, file, OFFICIAL_FILE)]
        if continued and files[0][1].source is Source.OFFICIAL:
            files.append(_read(progress, names, None, CONSOLIDATED_FILE))
    _report_rows(files, show)
    parsed = [p for _, p in files]

    async def work(s: Store) -> tuple[Plan, WriteReport]:
        plan = await plan_for(s, parsed)
        _report_plan(plan)
        with _progress() as progress:
            task = progress.add_task("writing events", total=len(plan.alerts))
            written = await write_plan(s, tree, plan, progress=lambda n: progress.advance(task, n))
        return plan, written

    _, report = on_store(store, work)
    _report_written(report)


def _report_rows(files: list[tuple[str, ParsedHistory]], show: int) -> None:
    for shown, p in files:
        mapped = len(p.records)
        rate = 100 * mapped / p.rows if p.rows else 100.0
        console.print(
            f"{shown}: {p.rows:,} rows, {mapped:,} mapped to a "
            f"region ({rate:.2f} %), source [bold]{p.source.issuer}[/]",
            highlight=False,
        )
        if p.rejections:
            table = Table("reason", "rows", "lines (place)", title="rows not imported")
            reasons = Counter(r.reason for r in p.rejections)
            for reason, count in reasons.most_common():
                examples = [r for r in p.rejections if r.reason == reason][:show]
                table.add_row(
                    reason, f"{count:,}", "; ".join(f"{r.line} ({r.place})" for r in examples)
                )
            console.print(table)
    for source in (s for s in Source if any(p.source is s for _, p in files)):
        console.print(f"  {source.issuer}: {source.meaning}", style="dim", highlight=False)


def _report_plan(plan: Plan) -> None:
    if plan.cutover is not None:
        shown = plan.cutover.strftime("%Y-%m-%d %H:%M:%S UTC")
        console.print(
            f"hand-over: the official record until {shown}, the consolidated record "
            "(oblast level only) from then on",
            highlight=False,
        )
    if plan.merged_rows:
        console.print(
            f"{plan.merged_rows:,} rows overlapped another row of the same region and "
            "were merged into its alert",
            highlight=False,
        )
    left = Counter((out.alert.source, out.reason) for out in plan.left_out)
    for (source, reason), count in left.most_common():
        console.print(f"left out {count:,} {source} alerts: {reason}", highlight=False)


def _report_written(report: WriteReport) -> None:
    if report.written:
        console.print(
            f"wrote {report.written:,} alerts ({report.events:,} events, seq "
            f"{report.first_seq}-{report.last_seq}) in {report.seconds:.1f} s: "
            f"{report.events_per_second:,.0f} events/s",
            highlight=False,
        )
    else:
        console.print("wrote nothing new", highlight=False)
    if report.already:
        console.print(f"{report.already:,} alerts were in the store already", highlight=False)
    if report.held_back:
        regions = Counter(a.region_id for a in report.held_back)
        console.print(
            f"held back {len(report.held_back):,} alerts of {len(regions)} regions under a "
            f"live air-raid alert now ({', '.join(list(regions)[:5])}); import again once "
            "they are cleared",
            style="yellow",
            highlight=False,
        )


# -- statistics --------------------------------------------------------------------------


def _period(
    since: str | None, until: str | None, tz: str, threat: ThreatType, by: By | None = None
) -> Period:
    try:
        return choose_period(since, until, now=datetime.now(UTC), tz=tz, threat=threat, by=by)
    except PeriodError as e:
        fail(f"--{e.field}: {e.message}")


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,}h{minutes:02d}m" if hours else f"{minutes}m"


SinceOption = typer.Option(
    None, help=f"start: a date (midnight in --tz) or RFC 3339; default {DEFAULT_DAYS} days ago"
)
UntilOption = typer.Option(None, help="end (exclusive): a date or RFC 3339; default now")
TzOption = typer.Option(DEFAULT_TZ, help="time zone of the buckets and of plain dates")
JsonOption = typer.Option(False, "--json", help="print the API's JSON")


def stats(
    region: str | None = typer.Option(
        None, "--region", "-r", help="region id or unique name; default: every oblast"
    ),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    by: By | None = typer.Option(None, help="a series by day, month, hour or weekday"),
    tz: str = TzOption,
    threat: ThreatType = typer.Option(ThreatType.AIR_RAID, help="which alerts count"),
    as_json: bool = JsonOption,
    store: str = StoreOption,
) -> None:
    """How often, how long and when a region was under alert.

    A region is under alert while it or a region above it has an alert; overlapping alerts
    count once. See docs/history.md for the definitions."""
    tree = region_tree()
    chosen = _period(since, until, tz, threat, by)
    end = min(chosen.until, chosen.now)
    region_id = None
    if region is not None:
        try:
            region_id = tree.resolve(region).id
        except UnknownRegionError as e:
            fail(f"--region: {e.detail}")

    async def work(s: Store) -> tuple[list[RegionStats], list[Span]]:
        if region_id is None:
            found = await oblast_stats(s, tree, chosen)
        else:
            found = [await stats_for(s, tree, region_id, chosen, by)]
        return found, await covered_spans(s)

    found, spans = on_store(store, work)
    if as_json:
        body = (
            stats_to_json(found[0], tz)
            if region_id
            else summaries_to_json(found, chosen.since, end)
        )
        body["history"] = history_to_json(spans, chosen.since, end)
        print(orjson.dumps(body).decode())
        return
    if region_id is None:
        _oblast_table(found, tree, chosen, since is None)
    else:
        _region_tables(found[0], display_name(region_id), chosen, since is None)
    for span in spans:
        if span.start < end and span.end > chosen.since:
            console.print(
                f"{span.source.issuer} from {span.start:%Y-%m-%d %H:%M} UTC: {span.source.meaning}",
                style="dim",
                highlight=False,
            )


def _title(name: str, period: Period, until: datetime) -> str:
    def local(t: datetime) -> str:
        return t.astimezone(period.tz).strftime("%Y-%m-%d %H:%M")

    return f"{name}: {period.threat} alerts, {local(period.since)} to {local(until)} ({period.tz})"


def _hint(default_period: bool, count: int) -> None:
    if default_period and count == 0:
        console.print(
            f"(the last {DEFAULT_DAYS} days; give --since 2022-03-15 for the whole record)",
            style="dim",
        )


def _region_tables(found: RegionStats, name: str, period: Period, default_period: bool) -> None:
    table = Table(
        "alerts", "under alert", "share", "longest", title=_title(name, period, found.until)
    )
    table.add_row(
        f"{found.count:,}",
        duration(found.total_seconds),
        f"{100 * found.share:.2f} %",
        duration(found.longest_seconds),
    )
    console.print(table)
    if found.series:
        series = Table(str(found.by), "alerts", "under alert", "share", "")
        for bucket in found.series:
            series.add_row(
                bucket.key,
                f"{bucket.count:,}",
                duration(bucket.seconds),
                f"{100 * bucket.share:.1f} %",
                "█" * round(30 * bucket.share),
            )
        console.print(series)
    _hint(default_period, found.count)


def _oblast_table(
    found: list[RegionStats], tree: RegionTree, period: Period, default_period: bool
) -> None:
    until = min(period.until, period.now)
    table = Table(
        "oblast",
        "alerts",
        "under alert",
        "share",
        "longest",
        title=_title("every oblast", period, until),
    )
    for s in sorted(found, key=lambda s: -s.share):
        table.add_row(
            display_name(s.region_id),
            f"{s.count:,}",
            duration(s.total_seconds),
            f"{100 * s.share:.2f} %",
            duration(s.longest_seconds),
        )
    console.print(table)
    _hint(default_period, sum(s.count for s in found))


def episodes(
    min_oblasts: int = typer.Option(20, min=1, max=27, help="oblast-level units at once"),
    partial: bool = typer.Option(
        False, help="count an oblast while any region inside it is under alert"
    ),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    tz: str = TzOption,
    as_json: bool = JsonOption,
    store: str = StoreOption,
) -> None:
    """Nationwide episodes: times when at least N oblasts were under alert at once."""
    tree = region_tree()
    chosen = _period(since, until, tz, ThreatType.AIR_RAID)
    found = on_store(store, lambda s: nationwide_episodes(s, tree, chosen, min_oblasts, partial))
    end = min(chosen.until, chosen.now)
    if as_json:
        print(
            orjson.dumps(episodes_to_json(found, chosen.since, end, min_oblasts, partial)).decode()
        )
        return
    table = Table(
        "began",
        "ended",
        "lasted",
        "peak",
        title=_title(f"at least {min_oblasts} oblasts", chosen, end),
    )
    for e in found:
        table.add_row(
            e.started_at.astimezone(chosen.tz).strftime("%Y-%m-%d %H:%M"),
            e.ended_at.astimezone(chosen.tz).strftime("%Y-%m-%d %H:%M"),
            duration(e.seconds),
            str(e.peak),
        )
    console.print(table)
    console.print(f"{len(found):,} episodes, {duration(sum(e.seconds for e in found))} in all")
    _hint(since is None, len(found))
