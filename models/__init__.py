"""Records: the SQLAlchemy schema, the Store (engine + queries -> pandas) and the GPU/LLM catalogs.

Imports no other package of the project; everything else reads and writes through here.
"""

from models.catalog import CarbonIntensity, Catalog, GpuSpec, LlmSpec, load_catalog
from models.errors import CatalogError, StoreError, StoreUrlError
from models.records import MeasurementRecord, RunRecord, SampleRecord
from models.store import Store, default_store_url

__all__ = [
    "Catalog",
    "CarbonIntensity",
    "CatalogError",
    "GpuSpec",
    "LlmSpec",
    "MeasurementRecord",
    "RunRecord",
    "SampleRecord",
    "Store",
    "StoreError",
    "StoreUrlError",
    "default_store_url",
    "load_catalog",
]
