"""login_alerts: when an account's holder was last mailed about failed log-ins (once per throttle window)

Revision ID: 0007_web
Revises: 0006
Create Date: 2026-11-26 09:00:00
"""
from alembic import op
import sqlalchemy as sa

import cms.models.base


revision = '0007_web'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_alerts',
        sa.Column('email', sa.String(length=255), nullable=False),
        sa.Column('sent_at', cms.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('email', name=op.f('pk_login_alerts')),
    )


def downgrade() -> None:
    op.drop_table('login_alerts')
