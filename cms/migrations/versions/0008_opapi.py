"""a per-charge-point current limit (amperes per phase), set through the operator API

Revision ID: 0008_opapi
Revises: 0007_web
Create Date: 2026-11-26 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_opapi'
down_revision = '0007_web'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_current_a', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charge_points', schema=None) as batch_op:
        batch_op.drop_column('max_current_a')
