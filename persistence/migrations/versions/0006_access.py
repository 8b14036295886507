"""access: users, API keys, sessions and the audit trail

Every endpoint but /health now needs a principal: a person signed in (users, sessions) or a
machine's key (api_keys, stored as a prefix and a SHA-256 hash, never the key). `audit` records
who read or changed which case, append-only, with no case data. New tables only: existing cases,
history and deadlines are untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:20:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401
import persistence.types  # noqa: F401


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_TIME = persistence.types.UTCDateTime(timezone=True)
_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', _TEXT(length=128), nullable=False),
        sa.Column('password_hash', _TEXT(length=256), nullable=True),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('authority', _TEXT(length=64), nullable=True),
        sa.Column('user_id', _TEXT(length=128), nullable=True),
        sa.Column('acts_as', sa.JSON(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', _TEXT(length=128), nullable=False),
        sa.Column('prefix', _TEXT(length=16), nullable=False),
        sa.Column('key_hash', _TEXT(length=64), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('authority', _TEXT(length=64), nullable=True),
        sa.Column('user_id', _TEXT(length=128), nullable=True),
        sa.Column('acts_as', sa.JSON(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('expires_at', _TIME, nullable=False),
        sa.Column('revoked_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('prefix'),
    )
    op.create_table(
        'sessions',
        sa.Column('id_hash', _TEXT(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('csrf_token', _TEXT(length=64), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('expires_at', _TIME, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index(op.f('ix_sessions_user_id'), 'sessions', ['user_id'], unique=False)
    op.create_table(
        'audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', _TIME, nullable=False),
        sa.Column('principal', _TEXT(length=128), nullable=False),
        sa.Column('kind', _TEXT(length=16), nullable=False),
        sa.Column('action', _TEXT(length=128), nullable=False),
        sa.Column('authority', _TEXT(length=64), nullable=True),
        sa.Column('case_ref', _TEXT(length=128), nullable=True),
        sa.Column('outcome', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_audit_at'), 'audit', ['at'], unique=False)
    op.create_index(op.f('ix_audit_principal'), 'audit', ['principal'], unique=False)
    op.create_index('ix_audit_case', 'audit', ['case_ref', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_case', table_name='audit')
    op.drop_index(op.f('ix_audit_principal'), table_name='audit')
    op.drop_index(op.f('ix_audit_at'), table_name='audit')
    op.drop_table('audit')
    op.drop_index(op.f('ix_sessions_user_id'), table_name='sessions')
    op.drop_table('sessions')
    op.drop_table('api_keys')
    op.drop_table('users')
