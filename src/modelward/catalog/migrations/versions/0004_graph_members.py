"""graph members: the model versions an inference graph's version serves, by node

Revision ID: 0004
Revises: 0003

A graph endpoint is registered as a version of its own (its manifest holds the node tree); each of
its MODEL nodes names the registered version it serves, so the lineage runs from every member
version to the graph's deployments.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('graph_members',
                    sa.Column('graph_version_id', sa.Integer(), nullable=False),
                    sa.Column('node', sa.String(length=100), nullable=False),
                    sa.Column('member_version_id', sa.Integer(), nullable=False),
                    sa.ForeignKeyConstraint(['graph_version_id'], ['model_versions.id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['member_version_id'], ['model_versions.id']),
                    sa.PrimaryKeyConstraint('graph_version_id', 'node'))
    op.create_index('ix_graph_members_member_version_id', 'graph_members', ['member_version_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_graph_members_member_version_id', table_name='graph_members')
    op.drop_table('graph_members')
