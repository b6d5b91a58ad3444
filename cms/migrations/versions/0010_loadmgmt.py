"""site load management: station limits, per-session allocations, charge points that refuse profiles

Revision ID: 0010_loadmgmt
Revises: 0009_meter_dedupe
Create Date: 2026-12-01 10:45:00
"""
from alembic import op
import sqlalchemy as sa

import cms.models.base


revision = '0010_loadmgmt'
down_revision = '0009_meter_dedupe'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'station_load_limits',
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('max_current_a', sa.Float(), nullable=False),
        sa.Column('phases', sa.Integer(), nullable=False),
        sa.Column('min_current_a', sa.Float(), nullable=False),
        sa.Column('voltage_v', sa.Float(), nullable=False),
        sa.Column('external_load_a', sa.JSON(), nullable=True),
        sa.Column('external_load_at', cms.models.base.UTCDateTime(), nullable=True),
        sa.Column('updated_at', cms.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_load_limits_station_id_stations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('station_id', name=op.f('pk_station_load_limits')),
    )
    op.create_table(
        'load_allocations',
        sa.Column('transaction_id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('charge_point_id', sa.Integer(), nullable=False),
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('limit_a', sa.Float(), nullable=False),
        sa.Column('sent_limit_a', sa.Float(), nullable=True),
        sa.Column('managed', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('low_since', cms.models.base.UTCDateTime(), nullable=True),
        sa.Column('cap_a', sa.Float(), nullable=True),
        sa.Column('updated_at', cms.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['charge_point_id'], ['charge_points.id'], name=op.f('fk_load_allocations_charge_point_id_charge_points'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_load_allocations_station_id_stations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_load_allocations_transaction_id_transactions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_load_allocations')),
    )
    with op.batch_alter_table('load_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_allocations_station_id'), ['station_id'], unique=False)
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profiles_refused_at', cms.models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.drop_column('profiles_refused_at')
    with op.batch_alter_table('load_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_allocations_station_id'))
    op.drop_table('load_allocations')
    op.drop_table('station_load_limits')
