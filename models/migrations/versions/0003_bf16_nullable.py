"""hardware.bf16_dense_tflops may be NULL: the A10G's tensor peak is published by neither NVIDIA nor AWS

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hardware", schema=None) as batch_op:
        batch_op.alter_column("bf16_dense_tflops", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("hardware", schema=None) as batch_op:
        batch_op.alter_column("bf16_dense_tflops", existing_type=sa.Float(), nullable=False)
