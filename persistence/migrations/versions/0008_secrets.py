"""secrets: the deployment's random keys, shared by every process

The sign-on proxy's users get CSRF tokens signed with a key that each `serve` process made up
for itself, so a token from one process (or from before a restart) was refused by the next.
The key now lives in the database, made once by the first process that needs it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'secrets',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('secrets')
