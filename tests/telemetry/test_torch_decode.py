"""The built-in torch decoder: correct attention over its static cache, catalog shapes, and a
phased benchmark (prefill and decode windows) on the CPU with a replayed trace for energy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import load_catalog
from telemetry.bench import BenchSettings, run_bench
from telemetry.loadgen import LoadGeneratorError, PhasedWorkload
from telemetry.loadgen.torch_decode import FFN_AND_VOCAB, TINY, Decoder, TorchDecodeWorkload, decoder_shape
from tests.telemetry.test_loadgen import _collector


def test_each_decode_step_over_the_static_cache_matches_recomputing_the_whole_sequence():
    decoder = Decoder(TINY, batch=3, max_tokens=24, device="cpu", dtype=torch.float32, seed=1)
    sequence = torch.randint(0, TINY.vocab, (3, 16), generator=torch.Generator().manual_seed(2))
    tokens = decoder.prefill(sequence)
    for position in range(16, 20):
        stepped = decoder.step_logits(tokens, torch.tensor([position]))
        sequence = torch.cat([sequence, tokens[:, None]], dim=1)
        recomputed = decoder.prefill_logits(sequence)  # also rewrites the cache up to `position`
        assert torch.allclose(stepped, recomputed, atol=1e-5)
        tokens = stepped.argmax(-1)


def test_catalog_shapes_have_the_models_parameter_counts():
    catalog = load_catalog()
    for name in FFN_AND_VOCAB:
        params_b = decoder_shape(catalog.llms[name]).params / 1e9
        tied_embedding_b = FFN_AND_VOCAB[name][1] * catalog.llms[name].hidden_size / 1e9 if name == "llama-3.2-1b" else 0.0
        assert params_b == pytest.approx(catalog.llms[name].params_b + tied_embedding_b, rel=0.005), name
    with pytest.raises(LoadGeneratorError, match="no Llama-shaped decoder for mixtral-8x7b.*--workload openai"):
        decoder_shape(catalog.llms["mixtral-8x7b"])


def test_a_missing_gpu_is_named():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(LoadGeneratorError, match="device cuda is not available.*--device cpu"):
        TorchDecodeWorkload(TINY, device="cuda")


def test_a_phased_sweep_stores_prefill_and_decode_windows_per_batch(raw_reference: Path):
    labels: list[str] = []
    collector = _collector(raw_reference, sink=lambda batch: labels.extend(s.label for s in batch if s.label))
    workload = TorchDecodeWorkload(TINY, prompt_tokens=24, output_tokens=12, device="cpu")
    assert isinstance(workload, PhasedWorkload)
    settings = BenchSettings(
        model="llama-3.2-1b", hardware="H200-SXM-141GB", runtime="torch-decode", concurrency=(1, 4), source="bench/tiny",
        prompt_tokens=24, output_tokens=12, warmup_s=0.1, window_s=1.1, runtime_version=workload.runtime_version,
    )  # fmt: skip
    with collector:
        outcomes = run_bench(collector, workload, settings)
    for outcome, batch in zip(outcomes, (1, 4), strict=True):
        record = outcome.measurement
        assert record is not None and not outcome.problems, outcome.problems
        assert (record.energy_scope, record.batch, record.concurrency, record.source_key) == ("phases", batch, None, f"bench/tiny/b{batch}")
        assert record.prefill is not None and record.prefill.energy_j is not None and record.decode.energy_j is not None
        assert record.prefill.window_s >= 1.1 and record.decode.window_s >= 1.1
        assert record.prefill_tokens == outcome.prefill.repeats * batch * 24
        assert record.prefill_s == pytest.approx(record.prefill.window_s / outcome.prefill.repeats, rel=0.01)
        assert record.ttft_ms == pytest.approx(record.prefill_s * 1000)
        assert record.decode_tokens == round(outcome.run.window_tokens) and record.decode_tokens % batch == 0
        assert record.output_tok_s == pytest.approx(record.decode_tokens / record.decode.window_s, rel=0.01)
        assert 0 < record.tpot_ms < record.decode.window_s * 1000
        assert (record.prompt_tokens, record.output_tokens) == (24, 12)
        assert record.runtime_version.endswith("float32, eager")
    assert {"bench/tiny/b1/prefill", "bench/tiny/b1/decode", "bench/tiny/b4/prefill", "bench/tiny/b4/decode"} <= set(labels)


@pytest.mark.gpu
def test_cuda_graph_replay_decodes_the_same_tokens_as_eager_steps():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from telemetry.loadgen.torch_decode import _Stepper

    decoder = Decoder(TINY, batch=2, max_tokens=32, device="cuda", dtype=torch.float32, seed=3)
    first = decoder.prefill(torch.randint(0, TINY.vocab, (2, 16), device="cuda"))
    eager, graphed = _Stepper(decoder, first, use_graph=False), _Stepper(decoder, first, use_graph=True)
    for position in range(16, 24):
        eager.step(position)
        graphed.step(position)
        assert torch.equal(eager.tokens, graphed.tokens)
