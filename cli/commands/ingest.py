"""``scrapesched ingest upgrade-results FILE``: take in records that external tools write (the seed team's
upgrade test runners), validated as a whole and written through the one upsert in one transaction."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scrapesched.cli.app import App
from scrapesched.config.errors import ConfigError, InvalidRecords

SHOWN_BAD = 20


def _read(path: str) -> tuple[str, str]:
    """(name, text) of a file, or of stdin for ``-``."""
    try:
        if path == "-":
            return "-", sys.stdin.buffer.read().decode("utf-8")
        return path, Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


@click.group("ingest")
def command() -> None:
    """Take in records written by external tools (one transaction per file; all or nothing)."""


@command.command("upgrade-results")
@click.argument("file", metavar="FILE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="JSON lines or CSV with a header row; auto goes by the file name, else by the first character.",
)
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.pass_obj
def upgrade_results(app: App, file: str, fmt: str, dry_run: bool) -> None:
    """Validate upgrade test results from FILE (`-` for stdin) and upsert them into upgrade_test_results.

    Every bad record is reported with its line number, and then nothing is written (exit 2)."""
    from scrapesched.scrapers.ingest import FileFormat, guess_format, parse_upgrade_results, write_upgrade_results

    name, text = _read(file)
    file_format = guess_format(name, text) if fmt == "auto" else FileFormat(fmt)
    parsed = parse_upgrade_results(text, file_format)
    if parsed.bad:
        for bad in parsed.bad[:SHOWN_BAD]:
            click.echo(f"scrapesched: {name}: line {bad.line}: {bad.reason}", err=True)
        more = len(parsed.bad) - SHOWN_BAD
        if more > 0:
            click.echo(f"scrapesched: {name}: ... and {more} more bad record(s)", err=True)
        total = len(parsed.bad) + len(parsed.records)
        raise InvalidRecords(f"{len(parsed.bad)} of {total} record(s) in {name} are invalid; nothing was written")
    if not parsed.records:
        raise ConfigError(f"{name}: no records")
    records = [r for _, r in parsed.records]
    if dry_run:
        click.echo(f"{len(records)} record(s) in {name} are valid (dry run: nothing written)")
        return
    from scrapesched.db.migrate import require_head

    engine = app.engine()
    require_head(engine)
    written = write_upgrade_results(engine, records)
    changed = "" if written.updated is None else f" ({written.updated} changed a stored row)"
    click.echo(f"ingested {written.rows} record(s) from {name} into upgrade_test_results{changed}")
