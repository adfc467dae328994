"""Read a job folder (spec, cohort SQL, codelists) and compile it to a canonical plan."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import ValidationError

from trusted_env.errors import SpecError
from trusted_env.schema import DatasetSchema, load_schema
from trusted_env.spec.model import JobSpec
from trusted_env.spec.plan import Codelist, Plan, PlannedOutput
from trusted_env.validation.messages import describe_validation_error, load_yaml_model
from trusted_env.validation.plan_checks import check_plan

SPEC_FILE = "job.yaml"
MAX_CODELIST_ROWS = 200_000


def load_spec(job_dir: Path) -> JobSpec:
    spec_path = job_dir / SPEC_FILE
    if not spec_path.is_file():
        raise SpecError(
            f"No {SPEC_FILE} in {job_dir}.",
            hint="A job is a folder with a job.yaml spec; see README 'Writing a job'.",
        )
    return load_yaml_model(spec_path, JobSpec, str(spec_path),
                           "Run `tre schema --job` for the full spec format.")


def _read_inside(job_dir: Path, relative: str, what: str) -> str:
    path = (job_dir / relative).resolve()
    if not path.is_relative_to(job_dir.resolve()):
        raise SpecError(f"The {what} '{relative}' is outside the job folder.")
    if not path.is_file():
        raise SpecError(f"The {what} '{relative}' does not exist in {job_dir}.")
    return path.read_text(encoding="utf-8")


def parse_codelist(name: str, text: str) -> Codelist:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise SpecError(f"Codelist '{name}' is empty; it needs a header row with a 'code' column.")
    columns = tuple(column.strip().lower() for column in header)
    if "code" not in columns:
        raise SpecError(f"Codelist '{name}' has no 'code' column (columns: {', '.join(columns)}).")
    rows = []
    for line_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise SpecError(
                f"Codelist '{name}' line {line_number} has {len(row)} fields, "
                f"expected {len(columns)}."
            )
        rows.append(tuple(cell.strip() for cell in row))
    if len(rows) > MAX_CODELIST_ROWS:
        raise SpecError(f"Codelist '{name}' has more than {MAX_CODELIST_ROWS} rows.")
    try:
        return Codelist(columns=columns, rows=tuple(sorted(set(rows))))
    except ValidationError as exc:
        raise SpecError(f"Codelist '{name}': {describe_validation_error(exc)}") from None


def compile_job(job_dir: Path, schema: DatasetSchema | None = None) -> Plan:
    """Validate a job folder completely and return its canonical plan."""
    spec = load_spec(job_dir)
    schema = schema or load_schema(spec.dataset)
    if schema.name != spec.dataset:
        raise SpecError(f"Job targets dataset '{spec.dataset}' but schema is '{schema.name}'.")
    sql = _read_inside(job_dir, spec.cohort, "cohort SQL file")
    codelists = {
        name: parse_codelist(name, _read_inside(job_dir, relative, "codelist"))
        for name, relative in sorted(spec.codelists.items())
    }
    outputs = tuple(
        PlannedOutput(output=output, epsilon=epsilon, delta=delta,
                      max_rows_per_patient=spec.max_rows_per_patient)
        for output, (epsilon, delta) in zip(spec.outputs, spec.allocate(), strict=True)
    )
    draft = Plan(
        job_name=spec.name,
        job_description=spec.description,
        dataset_schema=schema.name,
        schema_hash=schema.hash,
        sql=sql.strip(),
        codelists=codelists,
        patient_id_column=spec.patient_id_column,
        max_rows_per_patient=spec.max_rows_per_patient,
        budget=spec.budget,
        outputs=outputs,
        reads={},
    )
    return check_plan(draft, schema, fill_reads=True)
