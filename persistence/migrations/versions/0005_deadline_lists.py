"""Deadlines carry their case's workflow and authority, for lists counted in SQL

The overdue and upcoming lists count by workflow and by age band (whose boundaries depend on
the case's authority's calendar); with both on the deadline row, one index range answers the
counts without joining every row to its case.

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable): SQLite adds it in place, without rebuilding a referenced table
    op.add_column('deadlines', sa.Column('workflow', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('deadlines', sa.Column('authority', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.execute("UPDATE deadlines SET workflow = (SELECT cases.workflow FROM cases WHERE cases.id = deadlines.case_id), "
               "authority = (SELECT cases.authority FROM cases WHERE cases.id = deadlines.case_id)")
    op.create_index('ix_deadlines_list', 'deadlines', ['status', 'due_at', 'workflow', 'authority'])


def downgrade() -> None:
    op.drop_index('ix_deadlines_list', table_name='deadlines')
    op.drop_column('deadlines', 'authority')
    op.drop_column('deadlines', 'workflow')
