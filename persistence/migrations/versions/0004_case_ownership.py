"""case ownership: child, assigned IRO and team; case references unique within an authority

Cases gain `child_ref` (the host system's person id), `assigned_to` (the IRO or chair) and
`team`, all empty on existing cases. The reference was unique across the whole database; it is
now unique within an authority, so one deployment can serve several authorities whose systems
number cases alike. Existing references were unique overall, so they stay unique under the new
rule and nothing is touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# the unnamed UNIQUE(case_ref) of 0001, as SQLite batch mode and PostgreSQL name it
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('cases_case_ref_key', 'cases', type_='unique')
    with op.batch_alter_table('cases', naming_convention=_NAMING) as batch_op:
        if op.get_bind().dialect.name != "postgresql":
            batch_op.drop_constraint('uq_cases_case_ref', type_='unique')
        batch_op.add_column(sa.Column('child_ref', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('assigned_to', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_case_ref'), ['case_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_child_ref'), ['child_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_assigned_to'), ['assigned_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_team'), ['team'], unique=False)
    op.create_index('uq_cases_authority_ref', 'cases', ['authority', 'case_ref'], unique=True)
    op.create_index('uq_cases_ref_without_authority', 'cases', ['case_ref'], unique=True,
                    sqlite_where=sa.text('authority IS NULL'), postgresql_where=sa.text('authority IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_cases_ref_without_authority', table_name='cases')
    op.drop_index('uq_cases_authority_ref', table_name='cases')
    with op.batch_alter_table('cases', naming_convention=_NAMING) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_team'))
        batch_op.drop_index(batch_op.f('ix_cases_assigned_to'))
        batch_op.drop_index(batch_op.f('ix_cases_child_ref'))
        batch_op.drop_index(batch_op.f('ix_cases_case_ref'))
        batch_op.drop_column('team')
        batch_op.drop_column('assigned_to')
        batch_op.drop_column('child_ref')
        batch_op.create_unique_constraint('uq_cases_case_ref', ['case_ref'])
