"""The tables. Changes here need a migration in models/migrations/versions/."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints let Alembic's batch mode rebuild SQLite tables without guessing.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Hardware(Base):
    """A GPU type with its catalog specs."""

    __tablename__ = "hardware"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    vendor: Mapped[str] = mapped_column(String(40))
    memory_gb: Mapped[float] = mapped_column(Float)
    memory_bandwidth_tb_s: Mapped[float] = mapped_column(Float)
    bf16_dense_tflops: Mapped[float | None] = mapped_column(Float, nullable=True)
    tdp_w: Mapped[float] = mapped_column(Float)
    idle_w: Mapped[float] = mapped_column(Float)
    usd_per_gpu_hour: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text)


class Llm(Base):
    """A model with the shape figures that size its weights and KV cache."""

    __tablename__ = "llm"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    hf_id: Mapped[str] = mapped_column(String(200))
    params_b: Mapped[float] = mapped_column(Float)
    active_params_b: Mapped[float] = mapped_column(Float)
    layers: Mapped[int] = mapped_column(Integer)
    kv_heads: Mapped[int] = mapped_column(Integer)
    head_dim: Mapped[int] = mapped_column(Integer)
    bytes_per_param: Mapped[float] = mapped_column(Float)
    kv_bytes_per_token: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One benchmark or collection session: where, on what card, in what state."""

    __tablename__ = "run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(200))
    gpu_name: Mapped[str | None] = mapped_column(String(120))
    driver_version: Mapped[str | None] = mapped_column(String(60))
    power_limit_w: Mapped[float | None] = mapped_column(Float)
    runtime: Mapped[str | None] = mapped_column(String(80))
    runtime_version: Mapped[str | None] = mapped_column(String(80))
    tool: Mapped[str | None] = mapped_column(String(80))
    tool_version: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(Text)


class Measurement(Base):
    """One operating point. See models.records.MeasurementRecord for what each field means."""

    __tablename__ = "measurement"
    __table_args__ = (
        UniqueConstraint("source", "source_key", name="uq_measurement_source_key"),
        Index("ix_measurement_model_hardware", "llm_id", "hardware_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    llm_id: Mapped[int] = mapped_column(ForeignKey("llm.id"))
    hardware_id: Mapped[int] = mapped_column(ForeignKey("hardware.id"))
    source: Mapped[str] = mapped_column(String(300))
    source_key: Mapped[str] = mapped_column(String(300))
    workload_profile: Mapped[str | None] = mapped_column(String(60))
    runtime: Mapped[str] = mapped_column(String(80))
    runtime_version: Mapped[str | None] = mapped_column(String(80))
    gpus_per_replica: Mapped[int] = mapped_column(Integer)
    tensor_parallel: Mapped[int] = mapped_column(Integer)
    pipeline_parallel: Mapped[int] = mapped_column(Integer)
    batch: Mapped[int | None] = mapped_column(Integer)
    concurrency: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    energy_scope: Mapped[str] = mapped_column(String(20))
    output_tok_s: Mapped[float] = mapped_column(Float)
    tpot_ms: Mapped[float] = mapped_column(Float)
    tpot_stat: Mapped[str] = mapped_column(String(8))
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    ttft_stat: Mapped[str | None] = mapped_column(String(8))
    prefill_s: Mapped[float | None] = mapped_column(Float)
    prefill_window_s: Mapped[float | None] = mapped_column(Float)
    prefill_tokens: Mapped[int | None] = mapped_column(Integer)
    prefill_j: Mapped[float | None] = mapped_column(Float)
    prefill_ticks: Mapped[int | None] = mapped_column(Integer)
    prefill_uncertainty_j: Mapped[float | None] = mapped_column(Float)
    prefill_energy_note: Mapped[str | None] = mapped_column(Text)
    decode_window_s: Mapped[float] = mapped_column(Float)
    decode_tokens: Mapped[int] = mapped_column(Integer)
    decode_j: Mapped[float | None] = mapped_column(Float)
    decode_ticks: Mapped[int] = mapped_column(Integer)
    decode_uncertainty_j: Mapped[float | None] = mapped_column(Float)
    decode_energy_note: Mapped[str | None] = mapped_column(Text)
    busy_power_w: Mapped[float | None] = mapped_column(Float)
    peak_power_w: Mapped[float | None] = mapped_column(Float)
    idle_power_w: Mapped[float | None] = mapped_column(Float)
    gpu_memory_peak_gb: Mapped[float | None] = mapped_column(Float)


class Sample(Base):
    """Raw counter readings: kept so any window can be recomputed later."""

    __tablename__ = "sample"
    __table_args__ = (Index("ix_sample_run_gpu_t", "run_id", "gpu_index", "t_s"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    gpu_index: Mapped[int] = mapped_column(Integer)
    t_s: Mapped[float] = mapped_column(Float)
    energy_mj: Mapped[int | None] = mapped_column(BigInteger)
    power_w: Mapped[float | None] = mapped_column(Float)
    power_instant_w: Mapped[float | None] = mapped_column(Float)
    sm_mhz: Mapped[float | None] = mapped_column(Float)
    mem_mhz: Mapped[float | None] = mapped_column(Float)
    temp_c: Mapped[float | None] = mapped_column(Float)
    util_gpu_pct: Mapped[float | None] = mapped_column(Float)
    util_mem_pct: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
