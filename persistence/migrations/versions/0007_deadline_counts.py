"""deadline_counts: open deadlines counted per due day, workflow and authority, kept by triggers

The overdue and upcoming lists' totals and age bands walked every open deadline in range (2.4 s
at a million). They now sum whole days from this small table. The database keeps it exact
itself: triggers on `deadlines` (insert; update of status, due day, due time, workflow or
authority; delete) add or take one, so every write path (single commands, batches with
savepoints, case migration, import) and every rollback keeps it right with no code of its own.

Keyed by `due_on`, not by the London date of `due_at`: `due_at` is always the end of `due_on` in
Europe/London, so a due-day key makes every list boundary (the overdue line at "now", band edges
on each authority's calendar, the upcoming horizon) fall between whole days, and the triggers
need no time-zone arithmetic (SQLite has none). '' stands for no workflow or authority.

A list filtered by team or IRO (a small slice) is counted from the deadlines themselves, reached
from the cases' index on that column: `ix_deadlines_case_open` finds a case's open deadlines in a
due range without reading the rows.

On SQLite, dropping a table drops its triggers: a later migration that rebuilds `deadlines`
(batch_alter_table) must create them again (`_SQLITE` below).

A day's count is split over 32 slots (by deadline id): timer workers on PostgreSQL firing the
deadlines of one day each update a row of that day, and with one row a day they queued on its
lock until each other's commit (4 workers fired at 1.2x one worker's rate; 2.1x without the
counters). Lists sum the slots.

Existing open deadlines are counted in. Downgrade drops the triggers, the table and the index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_KEY = "due_on, workflow, authority, slot"
SLOTS = 32  # a deadline is counted in slot id % SLOTS of its day


def _key(row: str) -> str:
    return (f"due_on = {row}.due_on AND workflow = coalesce({row}.workflow, '') "
            f"AND authority = coalesce({row}.authority, '') AND slot = {row}.id % {SLOTS}")


def _values(row: str) -> str:
    return f"{row}.due_on, coalesce({row}.workflow, ''), coalesce({row}.authority, ''), {row}.id % {SLOTS}, 1"


_CHANGED = ("OLD.status IS DISTINCT FROM NEW.status OR OLD.due_on IS DISTINCT FROM NEW.due_on "
            "OR OLD.workflow IS DISTINCT FROM NEW.workflow OR OLD.authority IS DISTINCT FROM NEW.authority")

_SQLITE = (
    f"""CREATE TRIGGER deadline_counts_insert AFTER INSERT ON deadlines WHEN NEW.status = 'open'
    BEGIN
        INSERT INTO deadline_counts ({_KEY}, n) VALUES ({_values('NEW')})
            ON CONFLICT ({_KEY}) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER deadline_counts_delete AFTER DELETE ON deadlines WHEN OLD.status = 'open'
    BEGIN
        UPDATE deadline_counts SET n = n - 1 WHERE {_key('OLD')};
        DELETE FROM deadline_counts WHERE {_key('OLD')} AND n <= 0;
    END""",
    f"""CREATE TRIGGER deadline_counts_update AFTER UPDATE OF status, due_on, due_at, workflow, authority ON deadlines
    WHEN {_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}
    BEGIN
        UPDATE deadline_counts SET n = n - 1 WHERE OLD.status = 'open' AND {_key('OLD')};
        DELETE FROM deadline_counts WHERE OLD.status = 'open' AND {_key('OLD')} AND n <= 0;
        INSERT INTO deadline_counts ({_KEY}, n) SELECT {_values('NEW')} WHERE NEW.status = 'open'
            ON CONFLICT ({_KEY}) DO UPDATE SET n = n + 1;
    END""",
)

_POSTGRESQL = (
    f"""CREATE FUNCTION deadline_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            IF OLD.status = 'open' THEN
                UPDATE deadline_counts SET n = n - 1 WHERE {_key('OLD')};
                DELETE FROM deadline_counts WHERE {_key('OLD')} AND n <= 0;
            END IF;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            IF NEW.status = 'open' THEN
                INSERT INTO deadline_counts ({_KEY}, n) VALUES ({_values('NEW')})
                    ON CONFLICT ({_KEY}) DO UPDATE SET n = deadline_counts.n + 1;
            END IF;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER deadline_counts_insert AFTER INSERT ON deadlines
        FOR EACH ROW WHEN (NEW.status = 'open') EXECUTE FUNCTION deadline_counts_keep()""",
    """CREATE TRIGGER deadline_counts_delete AFTER DELETE ON deadlines
        FOR EACH ROW WHEN (OLD.status = 'open') EXECUTE FUNCTION deadline_counts_keep()""",
    f"""CREATE TRIGGER deadline_counts_update AFTER UPDATE OF status, due_on, due_at, workflow, authority ON deadlines
        FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION deadline_counts_keep()""",
)


def upgrade() -> None:
    op.create_table(
        'deadline_counts',
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('workflow', _TEXT(length=64), nullable=False),
        sa.Column('authority', _TEXT(length=64), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('due_on', 'workflow', 'authority', 'slot'),
    )
    op.execute(f"INSERT INTO deadline_counts ({_KEY}, n) "
               f"SELECT due_on, coalesce(workflow, ''), coalesce(authority, ''), id % {SLOTS}, count(*) FROM deadlines "
               f"WHERE status = 'open' GROUP BY due_on, coalesce(workflow, ''), coalesce(authority, ''), id % {SLOTS}")
    op.create_index('ix_deadlines_case_open', 'deadlines', ['case_id', 'status', 'due_at', 'workflow', 'authority'])
    for statement in (_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE):
        op.execute(statement)


def downgrade() -> None:
    for trigger in ('deadline_counts_update', 'deadline_counts_delete', 'deadline_counts_insert'):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON deadlines" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS deadline_counts_keep()")
    op.drop_table('deadline_counts')
    op.drop_index('ix_deadlines_case_open', table_name='deadlines')
