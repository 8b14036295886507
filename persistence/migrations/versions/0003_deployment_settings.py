"""deployment settings: the nation that counts cases with no authority

The nation used to come from each process's environment, so two processes could count the same
case on different calendars. It is now one row in the database. The table starts empty: the
first process to use the database records its nation (see Store.deployment_nation), so an
existing database keeps every case, deadline and date exactly as it was.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'deployment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('nation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('deployment')
