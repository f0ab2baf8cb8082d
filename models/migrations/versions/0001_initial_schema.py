"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hardware',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('vendor', sa.String(length=40), nullable=False),
    sa.Column('memory_gb', sa.Float(), nullable=False),
    sa.Column('memory_bandwidth_tb_s', sa.Float(), nullable=False),
    sa.Column('bf16_dense_tflops', sa.Float(), nullable=False),
    sa.Column('tdp_w', sa.Float(), nullable=False),
    sa.Column('idle_w', sa.Float(), nullable=False),
    sa.Column('usd_per_gpu_hour', sa.Float(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hardware')),
    sa.UniqueConstraint('name', name=op.f('uq_hardware_name'))
    )
    op.create_table('llm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('hf_id', sa.String(length=200), nullable=False),
    sa.Column('params_b', sa.Float(), nullable=False),
    sa.Column('active_params_b', sa.Float(), nullable=False),
    sa.Column('layers', sa.Integer(), nullable=False),
    sa.Column('kv_heads', sa.Integer(), nullable=False),
    sa.Column('head_dim', sa.Integer(), nullable=False),
    sa.Column('bytes_per_param', sa.Float(), nullable=False),
    sa.Column('kv_bytes_per_token', sa.Float(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm')),
    sa.UniqueConstraint('name', name=op.f('uq_llm_name'))
    )
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=True),
    sa.Column('gpu_name', sa.String(length=120), nullable=True),
    sa.Column('driver_version', sa.String(length=60), nullable=True),
    sa.Column('power_limit_w', sa.Float(), nullable=True),
    sa.Column('runtime', sa.String(length=80), nullable=True),
    sa.Column('runtime_version', sa.String(length=80), nullable=True),
    sa.Column('tool', sa.String(length=80), nullable=True),
    sa.Column('tool_version', sa.String(length=80), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run')),
    sa.UniqueConstraint('source_key', name=op.f('uq_run_source_key'))
    )
    op.create_table('measurement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('llm_id', sa.Integer(), nullable=False),
    sa.Column('hardware_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('source_key', sa.String(length=300), nullable=False),
    sa.Column('workload_profile', sa.String(length=60), nullable=True),
    sa.Column('runtime', sa.String(length=80), nullable=False),
    sa.Column('runtime_version', sa.String(length=80), nullable=True),
    sa.Column('gpus_per_replica', sa.Integer(), nullable=False),
    sa.Column('tensor_parallel', sa.Integer(), nullable=False),
    sa.Column('pipeline_parallel', sa.Integer(), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=True),
    sa.Column('concurrency', sa.Integer(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('energy_scope', sa.String(length=20), nullable=False),
    sa.Column('output_tok_s', sa.Float(), nullable=False),
    sa.Column('tpot_ms', sa.Float(), nullable=False),
    sa.Column('tpot_stat', sa.String(length=8), nullable=False),
    sa.Column('ttft_ms', sa.Float(), nullable=True),
    sa.Column('ttft_stat', sa.String(length=8), nullable=True),
    sa.Column('prefill_s', sa.Float(), nullable=True),
    sa.Column('prefill_window_s', sa.Float(), nullable=True),
    sa.Column('prefill_tokens', sa.Integer(), nullable=True),
    sa.Column('prefill_j', sa.Float(), nullable=True),
    sa.Column('prefill_ticks', sa.Integer(), nullable=True),
    sa.Column('prefill_uncertainty_j', sa.Float(), nullable=True),
    sa.Column('prefill_energy_note', sa.Text(), nullable=True),
    sa.Column('decode_window_s', sa.Float(), nullable=False),
    sa.Column('decode_tokens', sa.Integer(), nullable=False),
    sa.Column('decode_j', sa.Float(), nullable=True),
    sa.Column('decode_ticks', sa.Integer(), nullable=False),
    sa.Column('decode_uncertainty_j', sa.Float(), nullable=True),
    sa.Column('decode_energy_note', sa.Text(), nullable=True),
    sa.Column('busy_power_w', sa.Float(), nullable=True),
    sa.Column('peak_power_w', sa.Float(), nullable=True),
    sa.Column('idle_power_w', sa.Float(), nullable=True),
    sa.Column('gpu_memory_peak_gb', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['hardware_id'], ['hardware.id'], name=op.f('fk_measurement_hardware_id_hardware')),
    sa.ForeignKeyConstraint(['llm_id'], ['llm.id'], name=op.f('fk_measurement_llm_id_llm')),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], name=op.f('fk_measurement_run_id_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measurement')),
    sa.UniqueConstraint('source', 'source_key', name='uq_measurement_source_key')
    )
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.create_index('ix_measurement_model_hardware', ['llm_id', 'hardware_id'], unique=False)

    op.create_table('sample',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('gpu_index', sa.Integer(), nullable=False),
    sa.Column('t_s', sa.Float(), nullable=False),
    sa.Column('energy_mj', sa.BigInteger(), nullable=True),
    sa.Column('power_w', sa.Float(), nullable=True),
    sa.Column('power_instant_w', sa.Float(), nullable=True),
    sa.Column('sm_mhz', sa.Float(), nullable=True),
    sa.Column('mem_mhz', sa.Float(), nullable=True),
    sa.Column('temp_c', sa.Float(), nullable=True),
    sa.Column('util_gpu_pct', sa.Float(), nullable=True),
    sa.Column('util_mem_pct', sa.Float(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], name=op.f('fk_sample_run_id_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample'))
    )
    with op.batch_alter_table('sample', schema=None) as batch_op:
        batch_op.create_index('ix_sample_run_gpu_t', ['run_id', 'gpu_index', 't_s'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sample', schema=None) as batch_op:
        batch_op.drop_index('ix_sample_run_gpu_t')

    op.drop_table('sample')
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_index('ix_measurement_model_hardware')

    op.drop_table('measurement')
    op.drop_table('run')
    op.drop_table('llm')
    op.drop_table('hardware')
