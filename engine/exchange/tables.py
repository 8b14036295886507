"""CSV tables as the readers see them: rows with their row numbers, found by their columns."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from engine.exchange.history import ExtractError, Origin

MAX_FILE_BYTES = 2 * 1024**3  # a national extract is large, but not unbounded


@dataclass
class Row:
    """One data row; columns are looked up without regard to case."""

    origin: Origin  # file and row number (the header is row 1)
    values: dict[str, str]

    def get(self, column: str) -> str:
        return (self.values.get(column.lower()) or "").strip()

    def where(self, column: str) -> Origin:
        return self.origin.at(column)


@dataclass
class Table:
    path: Path
    columns: list[str]
    rows: list[Row]


def read_csv(path: Path) -> Table:
    """A CSV file with a header row; columns compared without case or surrounding spaces."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ExtractError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024**3} GB")
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ExtractError(f"{path.name}: empty file (no header row)")
            columns = [h.strip() for h in header]
            rows = []
            for number, record in enumerate(reader, start=2):  # the header is row 1, as a spreadsheet shows it
                if not any(cell.strip() for cell in record):
                    continue
                rows.append(Row(Origin(path.name, number), dict(zip((c.lower() for c in columns), record))))
    except UnicodeDecodeError:
        raise ExtractError(f"{path.name}: not UTF-8 text") from None
    except csv.Error as exc:
        raise ExtractError(f"{path.name}: not a CSV file ({exc})") from None
    except OSError as exc:
        raise ExtractError(f"{path.name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    return Table(path, columns, rows)


def csv_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ExtractError(f"{directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise ExtractError(f"{directory}: no .csv files")
    return files


def header_of(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def find_tables(directory: Path, layouts: dict[str, list[str]]) -> dict[str, list[Table]]:
    """Each file assigned to the table whose columns it carries, whatever the file is called
    (as the DfE validators identify uploads); a file matching no table is ignored. Several files
    of one table (returns of several years) are all read."""
    found: dict[str, list[Table]] = {name: [] for name in layouts}
    for path in csv_files(directory):
        columns = {c.upper() for c in header_of(path)}
        matches = [name for name, needed in layouts.items() if {c.upper() for c in needed} <= columns]
        if not matches:
            continue
        # the most specific layout wins (Reviews and Header share CHILD and DOB)
        best = max(matches, key=lambda name: len(layouts[name]))
        found[best].append(read_csv(path))
    return found
