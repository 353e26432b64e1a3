"""search summary (version placements), failed attempts of unregistered versions

Revision ID: 0002
Revises: 0001

``ix_model_versions_model_stage_created`` covers search's version side (no table reads);
``version_placements`` lets the environment/target search filters test one small row per
candidate version instead of probing the deployments table; a trigger on ``deployments`` keeps it
in the same transaction as each insert, and the upgrade fills it from the deployments already
recorded. ``audit_events_head`` moves the audit chain's head in the statement that appends an event
(one round trip fewer per write). ``deployment_attempts`` records failed attempts that never
reached a registered version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # search joins a model's versions with a stage filter and orders by creation time: covered here
    op.create_index('ix_model_versions_model_stage_created', 'model_versions', ['model_id', 'stage', 'created_at'],
                    unique=False)
    op.create_table('version_placements',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('environment', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'environment', 'target'),
    **({'sqlite_with_rowid': False} if _sqlite() else {})
    )
    op.create_index('ix_version_placements_env_target', 'version_placements',
                    ['environment', 'target', 'version_id'], unique=False)
    op.create_table('deployment_attempts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('source_uri', sa.String(length=1000), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.Column('environment', sa.String(length=100), nullable=False),
    sa.Column('host_detail', sa.String(length=1000), nullable=False),
    sa.Column('attempted_by', sa.String(length=200), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_deployment_attempts_attempted_at', 'deployment_attempts', ['attempted_at'], unique=False)
    op.create_index('ix_deployment_attempts_model_at', 'deployment_attempts', ['model', 'attempted_at'],
                    unique=False)
    for statement in SQLITE_TRIGGER if _sqlite() else POSTGRES_TRIGGER:
        op.execute(statement)
    op.execute("INSERT INTO version_placements (version_id, environment, target)"
               " SELECT DISTINCT version_id, environment, target FROM deployments")
    op.execute("ANALYZE version_placements")
    op.execute("ANALYZE model_versions")


def downgrade() -> None:
    if _sqlite():
        op.execute("DROP TRIGGER IF EXISTS deployments_placement")
        op.execute("DROP TRIGGER IF EXISTS audit_events_head")
    else:
        op.execute("DROP TRIGGER IF EXISTS deployments_placement ON deployments")
        op.execute("DROP FUNCTION IF EXISTS modelward_note_placement()")
        op.execute("DROP TRIGGER IF EXISTS audit_events_head ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS modelward_move_audit_head()")
    op.drop_index('ix_deployment_attempts_model_at', table_name='deployment_attempts')
    op.drop_index('ix_deployment_attempts_attempted_at', table_name='deployment_attempts')
    op.drop_table('deployment_attempts')
    op.drop_index('ix_version_placements_env_target', table_name='version_placements')
    op.drop_table('version_placements')
    op.drop_index('ix_model_versions_model_stage_created', table_name='model_versions')


def _sqlite() -> bool:
    return bool(op.get_context().dialect.name == "sqlite")


SQLITE_TRIGGER = (
    "CREATE TRIGGER deployments_placement AFTER INSERT ON deployments BEGIN"
    " INSERT OR IGNORE INTO version_placements (version_id, environment, target)"
    " VALUES (new.version_id, new.environment, new.target); END",
    "CREATE TRIGGER audit_events_head AFTER INSERT ON audit_events BEGIN"
    " UPDATE audit_head SET seq = new.seq, hash = new.hash WHERE id = 1; END",
)

POSTGRES_TRIGGER = (
    "CREATE FUNCTION modelward_note_placement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO version_placements (version_id, environment, target)"
    " VALUES (NEW.version_id, NEW.environment, NEW.target) ON CONFLICT DO NOTHING;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER deployments_placement AFTER INSERT ON deployments"
    " FOR EACH ROW EXECUTE FUNCTION modelward_note_placement()",
    "CREATE FUNCTION modelward_move_audit_head() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER audit_events_head AFTER INSERT ON audit_events"
    " FOR EACH ROW EXECUTE FUNCTION modelward_move_audit_head()",
)
