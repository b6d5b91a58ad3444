"""one meter_values row per sample: duplicates removed, then a unique index over the sample's key

Revision ID: 0009_meter_dedupe
Revises: 0008_opapi
Create Date: 2026-12-01 10:00:00
"""

from alembic import op

revision = "0009_meter_dedupe"
down_revision = "0008_opapi"
branch_labels = None
depends_on = None

# The sample's key, as the unique index holds it (NULLs folded so that they compare equal).
_KEY = (
    "charge_point_id, timestamp, connector_id, coalesce(transaction_id, -1), measurand, coalesce(phase, ''), "
    "location, context"
)


def upgrade() -> None:
    # Replays stored before this revision: the first copy of each sample stays.
    op.execute(
        "DELETE FROM meter_values WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
        f"(PARTITION BY {_KEY} ORDER BY id) AS n FROM meter_values) AS copies WHERE n > 1)"
    )
    op.execute(f"CREATE UNIQUE INDEX uq_meter_values_sample ON meter_values ({_KEY})")
    op.drop_index("ix_meter_values_cp_time", table_name="meter_values")


def downgrade() -> None:
    op.create_index("ix_meter_values_cp_time", "meter_values", ["charge_point_id", "timestamp"], unique=False)
    op.drop_index("uq_meter_values_sample", table_name="meter_values")
