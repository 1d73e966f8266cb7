"""Store version 5, reached in place from any store of versions 1–5 written before Alembic.

Version 1 kept one split per dataset and seed; versions 1–4 lack columns added since (2: OpenML;
3: compute, trajectories, extra metrics; 5: notes on a system's answer, a failure's last lines of
traceback and stderr); version 3 had no leases. The tables below are version 5 as it was, frozen:
later changes go in later revisions, not here.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from auditor.execution.outputs import count, real, shown, space_problem

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

V5 = sa.MetaData()
# Columns that stores of versions 1–4 may lack (all nullable)
ADDED = {
    "datasets": ("openml_dataset_id:i openml_dataset_version:i openml_task_id:i"),
    "runs": ("openml_dataset_id:i openml_dataset_version:i openml_task_id:i repeat:i fold:i "
             "compute_cpu_s:r full_fidelity_evals:r trajectory:t extra_metrics:t notes:t "
             "failure_detail:t"),
    "trials": "cpu_s:r",
}
TYPES = {"t": sa.Text, "i": sa.Integer, "r": sa.Float}
V1_SPLIT_COLUMNS = "dataset, seed, holdout_fraction, fingerprint, n_search, n_holdout, holdout_y"


def _added(table: str) -> list[sa.Column]:
    return [sa.Column(name, TYPES[kind]) for name, kind in
            (word.split(":") for word in ADDED.get(table, "").split())]


def _table(name: str, spec: str, key: str, *extra: sa.schema.SchemaItem) -> sa.Table:
    """A version-5 table from "name:type[!]" words (! is NOT NULL), keyed by `key`'s columns."""
    types = {**TYPES, "b": sa.LargeBinary}
    columns: list[sa.schema.SchemaItem] = []
    for word in spec.split():
        column, kind = word.rstrip("!").split(":")
        columns.append(sa.Column(column, types[kind], nullable=not word.endswith("!"),
                                 primary_key=column in key.split()))
    return sa.Table(name, V5, *columns, *_added(name), *extra)


_table("meta", "key:t! value:t!", "key")
_table("datasets", "name:t! source:t! target:t! task_type:t! classes:t! n_rows:i! n_features:i! "
       "n_categorical:i! n_missing:i! fingerprint:t!", "name")
sa.event.listen(V5.tables["datasets"], "after_create", sa.DDL(
    "ALTER TABLE datasets ADD COLUMN rowid BIGSERIAL").execute_if(dialect="postgresql"))
_table("splits", "dataset:t! seed:i! holdout_fraction:r! fingerprint:t! n_search:i! "
       "n_holdout:i! holdout_y:b! openml_task_id:i repeat:i fold:i", "dataset seed fingerprint",
       sa.ForeignKeyConstraint(["dataset"], ["datasets.name"]))
_table("runs", "job_id:t! suite:t! dataset:t! system:t! system_ref:t! options:t! seed:i! "
       "metric:t! status:t! failure_class:t failure_message:t reported_score:r reported_on:t "
       "holdout_score:r holdout_lo:r holdout_hi:r gap:r gap_lo:r gap_hi:r verdict:t "
       "n_configs:i best_config:t model_description:t system_version:t search_space:t "
       "environment:t wall_s:r! cpu_s:r peak_rss_mb:r search_s:r overrun:i! budget:t! "
       "versions:t! dataset_fingerprint:t! split_fingerprint:t! predictions_path:t "
       "started_at:t! finished_at:t!", "job_id")
_table("audits", "scope:t! check_name:t! job_id:t dataset:t! system:t seed:i flag:i! "
       "summary:t! detail:t!", "scope check_name")
_table("trials", "job_id:t! number:i! config:t! score:r start_s:r! end_s:r! fidelity:r! "
       "status:t!", "job_id number", sa.ForeignKeyConstraint(["job_id"], ["runs.job_id"]))
_table("claims", "job_id:t! owner:t! heartbeat:r!", "job_id",
       sa.Column("done", sa.Integer, nullable=False, server_default="0"))


def upgrade() -> None:
    """Create what is missing of version 5; clean the runs of a store older than 5."""
    c = op.get_bind()
    have = set(sa.inspect(c).get_table_names())
    meta = V5.tables["meta"]
    version = (c.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
               if "meta" in have else None)
    if "splits" in have and "fingerprint" not in sa.inspect(c).get_pk_constraint(
            "splits")["constrained_columns"]:
        _rekey_v1_splits()
    for table in V5.sorted_tables:
        if table.name not in have:
            table.create(c)
            continue
        present = {col["name"] for col in sa.inspect(c).get_columns(table.name)}
        for column in _added(table.name):
            if column.name not in present:
                op.add_column(table.name, column)
    if version is not None and version != "5":
        _clean_stored_runs(c)
    c.execute(meta.delete().where(meta.c.key == "schema_version"))
    c.execute(meta.insert().values(key="schema_version", value="5"))


def _clean_stored_runs(c: sa.Connection) -> None:
    """Runs recorded before answers were checked (versions before 5): a reported score, count
    or search space that would crash the audit or the report becomes NULL, with a note."""
    runs = V5.tables["runs"]
    wanted = ("job_id", "reported_score", "n_configs", "search_space", "notes")
    for row in c.execute(sa.select(*(runs.c[k] for k in wanted))).mappings().all():
        notes: list[str] = []
        fixed = {k: row[k] for k in wanted[1:]}
        if row["reported_score"] is not None and real(row["reported_score"]) is None:
            fixed["reported_score"] = None
            notes.append(f"reported score {shown(row['reported_score'])} dropped")
        if row["n_configs"] is not None and count(row["n_configs"]) is None:
            fixed["n_configs"] = None
            notes.append(f"n_configs {shown(row['n_configs'])} dropped")
        try:
            space = json.loads(row["search_space"] or "null")
        except (TypeError, ValueError, RecursionError):
            space = "unreadable"
        if space is not None and (why := space_problem(space)):
            fixed["search_space"] = "null"
            notes.append(f"search space dropped: {why}")
        if notes:
            fixed["notes"] = "; ".join(filter(None, [row["notes"], *notes]))
            c.execute(runs.update().where(runs.c.job_id == row["job_id"]).values(fixed))


def _rekey_v1_splits() -> None:
    """Key `splits` by fingerprint too (an OpenML task has many splits per seed)."""
    op.rename_table("splits", "splits_v1")
    V5.tables["splits"].create(op.get_bind())
    op.execute(f"INSERT INTO splits ({V1_SPLIT_COLUMNS}) SELECT {V1_SPLIT_COLUMNS} FROM splits_v1")
    op.drop_table("splits_v1")
