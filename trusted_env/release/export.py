"""Release tables as CSV, JSON and Parquet: the downloads policy teams read."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import polars as pl

from trusted_env.errors import UserError
from trusted_env.release.model import OutputRelease, Release

ExportFormat = Literal["csv", "json", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "json", "parquet")


def output_frame(output: OutputRelease) -> pl.DataFrame:
    """One row per cell: the group keys, then estimate and its 95% interval."""
    data: dict[str, list[object]] = {column: [] for column in output.group_columns}
    data |= {"estimate": [], "ci_low": [], "ci_high": []}
    for row in output.rows:
        for column in output.group_columns:
            data[column].append(row.keys.get(column))
        data["estimate"].append(row.estimate)
        data["ci_low"].append(row.ci_low)
        data["ci_high"].append(row.ci_high)
    schema: dict[str, pl.DataType] = {column: pl.String() for column in output.group_columns}
    schema |= {"estimate": pl.Float64(), "ci_low": pl.Float64(), "ci_high": pl.Float64()}
    return pl.DataFrame(data, schema=schema)


def release_frame(release: Release) -> pl.DataFrame:
    """Every output in one long table, with the output's name and metadata per row."""
    frames = []
    for output in release.outputs:
        frame = output_frame(output)
        keys = [pl.struct(output.group_columns).struct.json_encode()] if output.group_columns \
            else [pl.lit("{}")]
        frames.append(frame.select(
            pl.lit(output.name).alias("output"), pl.lit(output.type).alias("type"),
            keys[0].alias("group"), "estimate", "ci_low", "ci_high",
            pl.lit(output.epsilon).alias("epsilon"),
        ))
    return pl.concat(frames) if frames else pl.DataFrame()


def export_bytes(release: Release, fmt: str) -> bytes:
    if fmt == "json":
        return release.model_dump_json(indent=2).encode("utf-8")
    frame = release_frame(release)
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buffer)
    elif fmt == "parquet":
        frame.write_parquet(buffer)
    else:
        raise UserError(f"Unknown format '{fmt}'.", hint=f"Use one of {', '.join(FORMATS)}.")
    return buffer.getvalue()


def write_release_folder(release: Release, folder: Path) -> list[Path]:
    """release.json plus one CSV per output, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "release.json"]
    written[0].write_text(release.model_dump_json(indent=2), encoding="utf-8")
    for output in release.outputs:
        path = folder / f"{output.name}.csv"
        output_frame(output).write_csv(path)
        written.append(path)
    return written
