"""a partial index on the open transactions of each id tag (ConcurrentTx is checked on every Authorize and Start)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_open_id_tag', ['id_tag'], unique=False,
                              postgresql_where=sa.text('stop_timestamp IS NULL'),
                              sqlite_where=sa.text('stop_timestamp IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_open_id_tag')
