"""per-version owner and line of business

Revision ID: 0003
Revises: 0002

A version keeps the owner and line of business it was registered with (its manifest's), so that
registering a new version never changes what an older one shows. Existing versions get their
model's current values: the only ones the catalog held before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both databases (no batch copy of the table: its triggers and indexes stay)
    op.add_column('model_versions', sa.Column('owner', sa.String(length=200), nullable=False, server_default=''))
    op.add_column('model_versions', sa.Column('line_of_business', sa.String(length=200), nullable=False,
                                              server_default=''))
    op.execute("UPDATE model_versions SET owner = (SELECT models.owner FROM models"
               " WHERE models.id = model_versions.model_id),"
               " line_of_business = (SELECT models.line_of_business FROM models"
               " WHERE models.id = model_versions.model_id)")
    op.create_index('ix_model_versions_owner', 'model_versions', ['owner'], unique=False)
    op.create_index('ix_model_versions_line_of_business', 'model_versions', ['line_of_business'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_model_versions_line_of_business', table_name='model_versions')
    op.drop_index('ix_model_versions_owner', table_name='model_versions')
    with op.batch_alter_table('model_versions') as batch_op:
        batch_op.drop_column('line_of_business')
        batch_op.drop_column('owner')
