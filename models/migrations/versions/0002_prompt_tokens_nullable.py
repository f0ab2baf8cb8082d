"""measurement.prompt_tokens may be NULL: published whole-request data gives a task, not a prompt length

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.alter_column("prompt_tokens", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.alter_column("prompt_tokens", existing_type=sa.Integer(), nullable=False)
