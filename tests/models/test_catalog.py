import pytest

from models import CatalogError, load_catalog

REQUIRED_GPUS = ["A100-SXM4-80GB", "H100-SXM-80GB", "H100-PCIe-80GB", "H200-SXM-141GB", "B200", "L4", "L40S", "MI300X"]
REQUIRED_LLMS = ["llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b", "qwen2.5-32b", "mixtral-8x7b"]


def test_required_gpus_have_sane_specs_and_sources():
    catalog = load_catalog()
    for name in REQUIRED_GPUS:
        gpu = catalog.gpus[name]
        assert 0 < gpu.idle_w < gpu.tdp_w, name
        assert gpu.memory_gb >= 24 and gpu.memory_bandwidth_tb_s > 0.1 and (gpu.bf16_dense_tflops or 0) > 50, name
        assert gpu.usd_per_gpu_hour > 0, name
        assert gpu.spec_source and gpu.idle_source and gpu.price_source, name


def test_the_a10g_and_the_names_peers_write_resolve_and_a_blank_peak_says_why():
    catalog = load_catalog()
    for written in ("A10G", "NVIDIA A10G", "A10G-24GB"):
        assert catalog.resolve("gpu", written) == "A10G"
    for written, name in (("A100-80GB", "A100-SXM4-80GB"), ("H100-80GB", "H100-SXM-80GB"), ("A100-40GB", "A100-SXM4-40GB")):
        assert catalog.resolve("gpu", written) == name
    a10g = catalog.gpus["A10G"]
    assert (a10g.memory_gb, a10g.memory_bandwidth_tb_s, a10g.tdp_w) == (24, 0.6, 300)
    assert a10g.bf16_dense_tflops is None and "left blank" in a10g.spec_source
    assert all(gpu.bf16_dense_tflops for name, gpu in catalog.gpus.items() if name != "A10G")


def test_measured_idle_power_comes_from_the_reference_runs():
    catalog = load_catalog()
    assert catalog.gpus["H200-SXM-141GB"].idle_w == 118
    assert catalog.gpus["H100-SXM-80GB"].idle_w == 136
    assert "measured" in catalog.gpus["H200-SXM-141GB"].idle_source


def test_llm_shapes_give_known_kv_cache_sizes():
    catalog = load_catalog()
    assert set(REQUIRED_LLMS) <= set(catalog.llms)
    # Llama-3.1-8B: 32 layers x 8 KV heads x 128 dims x (K and V) x 2 bytes = 128 KiB per token.
    assert catalog.llms["llama-3.1-8b"].kv_bytes_per_token == 131072
    assert catalog.llms["llama-3.1-70b"].kv_bytes_per_token == 327680
    assert catalog.llms["mixtral-8x7b"].active_params_b < catalog.llms["mixtral-8x7b"].params_b


@pytest.mark.parametrize(
    ("kind", "written", "expected"),
    [
        ("llm", "meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("llm", "Llama-3.1-8B", "llama-3.1-8b"),
        ("llm", "llama-8b", "llama-3.1-8b"),
        ("llm", "LLAMA-3.1-70B", "llama-3.1-70b"),
        ("gpu", "NVIDIA H200", "H200-SXM-141GB"),
        ("gpu", "H100 80GB HBM3", "H100-SXM-80GB"),
        ("gpu", "h100-sxm-80gb", "H100-SXM-80GB"),
    ],
)
def test_aliases_resolve_to_catalog_names(kind, written, expected):
    assert load_catalog().resolve(kind, written) == expected


def test_unknown_name_suggests_close_ones():
    with pytest.raises(CatalogError, match=r"unknown GPU type 'H2OO'.*Did you mean.*To fix"):
        load_catalog().resolve("gpu", "H2OO")


def test_carbon_table_has_source_and_licence():
    carbon = load_catalog().carbon
    assert len(carbon) >= 10
    assert all(row.source and row.licence and 0 < row.g_co2_per_kwh < 1500 for row in carbon.values())
