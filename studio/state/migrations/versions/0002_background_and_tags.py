"""images: background flag; image_tags table

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 15:30:00

An image marked background holds no objects and trains as a negative; tags are free text,
one row per image and tag. Existing images start as not background and untagged.
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('background', sa.Boolean(), nullable=False,
                                      server_default='0'))
    op.create_table('image_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('image_id', 'tag')
    )
    with op.batch_alter_table('image_tags', schema=None) as batch_op:
        batch_op.create_index('ix_image_tags_tag', ['tag'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('image_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_image_tags_tag')
    op.drop_table('image_tags')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_column('background')
