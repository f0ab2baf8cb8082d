"""Where readings come from: the NVML boundary, behind one small protocol.

`NvmlSource` reads live GPUs; `telemetry.replay.ReplaySource` plays a recorded trace back on a
virtual clock, so every test and every CPU-only machine exercises the same collector code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from telemetry.errors import TelemetryError


class GpuLostError(TelemetryError):
    """A GPU stopped answering mid-run (NVML_ERROR_GPU_IS_LOST, or a trace that ends for it)."""


@dataclass(frozen=True)
class GpuInfo:
    """What a run records about a card, once."""

    gpu_index: int
    name: str
    driver_version: str | None
    power_limit_w: float
    max_sm_mhz: float | None = None
    max_mem_mhz: float | None = None


@dataclass(frozen=True)
class GpuReading:
    """One poll of one GPU. A live read knows the counter exactly (`energy_upper_mj` equals
    `energy_mj`); a replayed read between two trace samples only knows it lies between them."""

    gpu_index: int
    t_s: float
    energy_mj: int
    energy_upper_mj: int
    power_w: float | None = None
    power_instant_w: float | None = None
    sm_mhz: float | None = None
    mem_mhz: float | None = None
    temp_c: float | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    label: str | None = None
    """What a replayed trace says was running; None from a live GPU."""


class EnergySource(Protocol):
    """The NVML boundary. `now_s` belongs to the source so a replay runs on its own clock."""

    def gpus(self) -> tuple[GpuInfo, ...]: ...

    def read(self, gpu_index: int) -> GpuReading: ...

    def now_s(self) -> float: ...

    def close(self) -> None: ...


NVML_MISSING = (
    "NVML library not found: this machine has no NVIDIA driver. "
    "To fix: run on a GPU host, or replay a recorded trace with --replay FILE."
)


def _load_nvml() -> Any:
    try:
        import pynvml
    except ImportError as error:  # nvidia-ml-py is a dependency; a broken install lands here
        raise TelemetryError(f"{NVML_MISSING} ({error})") from error
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        if getattr(error, "value", None) in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED):
            raise TelemetryError(NVML_MISSING) from error
        raise TelemetryError(f"NVML failed to start: {error}. To fix: check `nvidia-smi` on this host.") from error
    return pynvml


class NvmlSource:
    """Live readings of the chosen GPUs (all when `gpu_indices` is None)."""

    def __init__(self, gpu_indices: tuple[int, ...] | None = None) -> None:
        self._nvml = _load_nvml()
        count = self._nvml.nvmlDeviceGetCount()
        chosen = tuple(range(count)) if gpu_indices is None else gpu_indices
        unknown = [index for index in chosen if not 0 <= index < count]
        if unknown:
            self.close()
            raise TelemetryError(f"GPU index {unknown} not on this host, which has {count} GPU(s) (0..{count - 1})")
        self._handles = {index: self._nvml.nvmlDeviceGetHandleByIndex(index) for index in chosen}
        self._instant_supported = {index: True for index in chosen}
        self._started = time.perf_counter()
        self._infos = tuple(self._info(index) for index in chosen)

    def _text(self, value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def _optional(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except self._nvml.NVMLError:
            return None

    def _info(self, index: int) -> GpuInfo:
        nvml, handle = self._nvml, self._handles[index]
        return GpuInfo(
            gpu_index=index,
            name=self._text(nvml.nvmlDeviceGetName(handle)),
            driver_version=self._text(nvml.nvmlSystemGetDriverVersion()),
            power_limit_w=nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000,
            max_sm_mhz=self._optional(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_SM),
            max_mem_mhz=self._optional(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM),
        )

    def gpus(self) -> tuple[GpuInfo, ...]:
        return self._infos

    def _instant_power_w(self, index: int) -> float | None:
        """NVML_FI_DEV_POWER_INSTANT follows within ~100 ms where the plain power reading is a
        1 s moving average on Hopper; older drivers lack it, so it is asked once and then skipped."""
        if not self._instant_supported[index]:
            return None
        nvml = self._nvml
        try:
            (field,) = nvml.nvmlDeviceGetFieldValues(self._handles[index], [nvml.NVML_FI_DEV_POWER_INSTANT])
        except nvml.NVMLError:
            field = None
        if field is None or field.nvmlReturn != nvml.NVML_SUCCESS:
            self._instant_supported[index] = False
            return None
        return field.value.uiVal / 1000

    def read(self, gpu_index: int) -> GpuReading:
        nvml, handle = self._nvml, self._handles[gpu_index]
        try:
            energy_mj = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            t_s = self.now_s()
            utilization = self._optional(nvml.nvmlDeviceGetUtilizationRates, handle)
            return GpuReading(
                gpu_index=gpu_index,
                t_s=t_s,
                energy_mj=energy_mj,
                energy_upper_mj=energy_mj,
                power_w=nvml.nvmlDeviceGetPowerUsage(handle) / 1000,
                power_instant_w=self._instant_power_w(gpu_index),
                sm_mhz=self._optional(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
                mem_mhz=self._optional(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM),
                temp_c=self._optional(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
                util_gpu_pct=None if utilization is None else utilization.gpu,
                util_mem_pct=None if utilization is None else utilization.memory,
            )
        except nvml.NVMLError as error:
            if getattr(error, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST:
                raise GpuLostError(f"GPU {gpu_index} is lost (NVML): it fell off the bus or was reset") from error
            raise TelemetryError(f"reading GPU {gpu_index} failed: {error}") from error

    def now_s(self) -> float:
        return time.perf_counter() - self._started

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass
