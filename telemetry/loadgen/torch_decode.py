"""A built-in Llama-shaped decoder with random weights: characterise a GPU without a serving stack.

Random weights move the same bytes and do the same FLOPs as the real model, and decode is
memory-bound, so its J/token is the card's, not the checkpoint's. Shapes are static: the KV cache
is allocated once for prompt + output tokens, every decode step attends over all of it under a
mask (so a step can be replayed as one CUDA graph, as tuned serving runtimes do), and a batch's
prefill is measured in its own window. Needs the optional extra: pip install 'energy-planner[torch]'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models.catalog import LlmSpec
from telemetry.loadgen import LevelRun, LoadGeneratorError, PrefillRun, RequestResult, WindowHooks

if TYPE_CHECKING:
    import torch

INIT_STD = 0.02
WEIGHT_POOL = 1 << 20
ROPE_THETA = 500_000.0


@dataclass(frozen=True)
class DecoderShape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int

    @property
    def params(self) -> int:
        """Untied embeddings and head: one more vocab x hidden matrix than a tied model stores,
        the same bytes read per decode step (the embedding is only looked up)."""
        attention = self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)
        per_layer = attention + 3 * self.hidden * self.ffn + 2 * self.hidden
        return self.layers * per_layer + 2 * self.vocab * self.hidden + self.hidden


TINY = DecoderShape(layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=128, vocab=256)
"""For tests and smoke runs on a CPU."""

FFN_AND_VOCAB: dict[str, tuple[int, int, str]] = {
    "llama-3.2-1b": (8192, 128256, "config.json of meta-llama/Llama-3.2-1B-Instruct"),
    "llama-3.1-8b": (14336, 128256, "config.json of meta-llama/Llama-3.1-8B-Instruct"),
    "llama-3.1-70b": (28672, 128256, "config.json of meta-llama/Llama-3.1-70B-Instruct"),
    "llama-3.1-405b": (53248, 128256, "config.json of meta-llama/Llama-3.1-405B-Instruct"),
    "qwen2.5-32b": (27648, 152064, "config.json of Qwen/Qwen2.5-32B-Instruct"),
    "mistral-7b": (14336, 32768, "config.json of mistralai/Mistral-7B-Instruct-v0.3"),
}
"""What the catalog does not hold: the MLP width and the vocabulary of the dense Llama-shaped
models (the rest of the shape comes from data/llms.csv)."""


def decoder_shape(llm: LlmSpec) -> DecoderShape:
    if llm.name not in FFN_AND_VOCAB:
        raise LoadGeneratorError(
            f"torch-decode has no Llama-shaped decoder for {llm.name}. "
            f"To fix: pick one of {', '.join(sorted(FFN_AND_VOCAB))}, or measure it behind a server with --workload openai."
        )
    ffn, vocab, _ = FFN_AND_VOCAB[llm.name]
    return DecoderShape(llm.layers, llm.hidden_size, llm.attention_heads, llm.kv_heads, llm.head_dim, ffn, vocab)


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise LoadGeneratorError(
            "torch-decode needs PyTorch, which is not installed. To fix: pip install 'energy-planner[torch]'."
        ) from error
    return torch


def _rms_norm(torch: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return (x.float() * torch.rsqrt(variance + 1e-5)).to(x.dtype) * weight


def _rope(torch: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


class Decoder:
    """Weights, a static KV cache for one batch size, and the prefill and decode-step forwards."""

    def __init__(self, shape: DecoderShape, batch: int, max_tokens: int, device: str, dtype: Any, seed: int) -> None:
        torch = self.torch = _torch()
        generator = torch.Generator(device=device).manual_seed(seed)
        pool = torch.empty(WEIGHT_POOL, device=device, dtype=dtype).normal_(0.0, INIT_STD, generator=generator)

        def weight(*dims: int) -> Any:
            """Tiled from one random pool, so billions of weights take a copy's time, not a
            random generator's (22 s for the 1B shape on a 2-core CPU); a tile shifts by a
            prime each row of tiles, so no two matrices repeat in step."""
            tensor = torch.empty(dims, device=device, dtype=dtype)
            flat = tensor.view(-1)
            for offset in range(0, flat.numel(), WEIGHT_POOL):
                span = min(WEIGHT_POOL, flat.numel() - offset)
                shift = (offset // WEIGHT_POOL * 7919) % (WEIGHT_POOL - span + 1)
                flat[offset : offset + span].copy_(pool[shift : shift + span])
            return tensor

        self.shape, self.batch, self.max_tokens = shape, batch, max_tokens
        self.embed = weight(shape.vocab, shape.hidden)
        self.head = weight(shape.hidden, shape.vocab)
        self.final_norm = torch.ones(shape.hidden, device=device, dtype=dtype)
        qkv_width = (shape.heads + 2 * shape.kv_heads) * shape.head_dim
        self.layers = [
            {
                "attn_norm": torch.ones(shape.hidden, device=device, dtype=dtype),
                "qkv": weight(shape.hidden, qkv_width),
                "out": weight(shape.heads * shape.head_dim, shape.hidden),
                "mlp_norm": torch.ones(shape.hidden, device=device, dtype=dtype),
                "gate_up": weight(shape.hidden, 2 * shape.ffn),
                "down": weight(shape.ffn, shape.hidden),
            }
            for _ in range(shape.layers)
        ]
        cache_dims = (shape.layers, batch, shape.kv_heads, max_tokens, shape.head_dim)
        self.keys = torch.zeros(cache_dims, device=device, dtype=dtype)
        self.values = torch.zeros(cache_dims, device=device, dtype=dtype)
        inverse = 1.0 / ROPE_THETA ** (torch.arange(0, shape.head_dim, 2, device=device, dtype=torch.float32) / shape.head_dim)
        angles = torch.outer(torch.arange(max_tokens, device=device, dtype=torch.float32), inverse)
        self.cos, self.sin = angles.cos().to(dtype), angles.sin().to(dtype)
        self.positions = torch.arange(max_tokens, device=device)

    def _layer(self, x: torch.Tensor, index: int, positions: torch.Tensor, decode: bool) -> torch.Tensor:
        torch, shape, weights = self.torch, self.shape, self.layers[index]
        batch, length, _ = x.shape
        qkv = _rms_norm(torch, x, weights["attn_norm"]) @ weights["qkv"]
        q, k, v = qkv.split([shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.kv_heads * shape.head_dim], dim=-1)
        q = q.view(batch, length, shape.heads, shape.head_dim).transpose(1, 2)
        k = k.view(batch, length, shape.kv_heads, shape.head_dim).transpose(1, 2)
        v = v.view(batch, length, shape.kv_heads, shape.head_dim).transpose(1, 2)
        cos, sin = self.cos.index_select(0, positions), self.sin.index_select(0, positions)
        q, k = _rope(torch, q, cos, sin), _rope(torch, k, cos, sin)
        self.keys[index].index_copy_(2, positions, k)
        self.values[index].index_copy_(2, positions, v)
        sdpa = torch.nn.functional.scaled_dot_product_attention
        if decode:  # the whole static cache under a mask: one shape for every step
            mask = (self.positions <= positions).unsqueeze(0)  # [1 query, every cache slot]
            attended = sdpa(q, self.keys[index], self.values[index], attn_mask=mask, enable_gqa=True)
        else:
            attended = sdpa(q, k, v, is_causal=True, enable_gqa=True)
        x = x + attended.transpose(1, 2).reshape(batch, length, -1) @ weights["out"]
        gate, up = (_rms_norm(torch, x, weights["mlp_norm"]) @ weights["gate_up"]).chunk(2, dim=-1)
        return x + (torch.nn.functional.silu(gate) * up) @ weights["down"]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return _rms_norm(self.torch, x[:, -1], self.final_norm) @ self.head

    def prefill_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Fill the cache for a prompt [batch, length]; the logits of its last position."""
        positions = self.positions[: tokens.shape[1]]
        x = self.embed[tokens]
        for index in range(self.shape.layers):
            x = self._layer(x, index, positions, decode=False)
        return self._logits(x)

    def step_logits(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """One decode step: `tokens` [batch] at `position` (a one-element tensor, so that a
        captured graph reads it from memory at each replay)."""
        x = self.embed[tokens].unsqueeze(1)
        for index in range(self.shape.layers):
            x = self._layer(x, index, position, decode=True)
        return self._logits(x)

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.prefill_logits(tokens).argmax(-1)

    def step(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        return self.step_logits(tokens, position).argmax(-1)


class _Stepper:
    """Runs decode steps eagerly, or replays one captured CUDA graph per step."""

    def __init__(self, decoder: Decoder, first_tokens: torch.Tensor, use_graph: bool) -> None:
        torch = decoder.torch
        self.decoder = decoder
        self.tokens = first_tokens.clone()
        # the warm-up and capture steps write the last cache slot, which every pass rewrites
        # before it attends to it, instead of the prompt's first
        self.position = torch.full((1,), decoder.max_tokens - 1, dtype=torch.long, device=first_tokens.device)
        self.graph = None
        if use_graph:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    decoder.step(self.tokens, self.position)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.next_tokens = decoder.step(self.tokens, self.position)

    def step(self, position: int) -> None:
        self.position.fill_(position)
        if self.graph is not None:
            self.graph.replay()
            self.tokens.copy_(self.next_tokens)
        else:
            self.tokens = self.decoder.step(self.tokens, self.position)


@dataclass
class TorchDecodeWorkload:
    """`concurrency` is the batch size: static batching, every sequence decoding in lock step.

    Decode passes restart at the prompt's end and run `output_tokens` steps, back to back, so
    the window sees the KV cache grow as a served request's would."""

    shape: DecoderShape
    prompt_tokens: int = 512
    output_tokens: int = 128
    device: str = "cuda"
    dtype_name: str | None = None
    """bfloat16 on a GPU, float32 on a CPU (whose bf16 matmuls are slow), unless named."""
    cuda_graphs: bool = True
    seed: int = 0
    name: str = "torch-decode"
    _decoders: dict[int, tuple[Decoder, _Stepper, torch.Tensor]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise LoadGeneratorError("prompt and output lengths must be at least 1 token. To fix: raise them.")
        torch = _torch()
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise LoadGeneratorError(f"device {self.device} is not available to this PyTorch build. To fix: pass --device cpu, or install a CUDA build of torch.")

    @property
    def uses_graphs(self) -> bool:
        return self.cuda_graphs and self.device.startswith("cuda")

    @property
    def runtime_version(self) -> str:
        torch = _torch()
        mode = "CUDA graphs" if self.uses_graphs else "eager"
        return f"torch {torch.__version__}, {self._dtype(torch)}, {mode}"

    def _dtype(self, torch: Any) -> Any:
        name = self.dtype_name or ("bfloat16" if self.device.startswith("cuda") else "float32")
        return getattr(torch, name)

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            _torch().cuda.synchronize()

    def _prepared(self, batch: int) -> tuple[Decoder, _Stepper, torch.Tensor]:
        """One decoder per batch size at a time (a new batch frees the previous cache first),
        warmed up by the prefill of its prompt, which also fills the cache decode starts from."""
        if batch in self._decoders:
            return self._decoders[batch]
        torch = _torch()
        self._decoders.clear()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            decoder = Decoder(self.shape, batch, self.prompt_tokens + self.output_tokens, self.device, self._dtype(torch), self.seed)
            generator = torch.Generator(device=self.device).manual_seed(self.seed)
            prompt = torch.randint(0, self.shape.vocab, (batch, self.prompt_tokens), device=self.device, generator=generator)
            stepper = _Stepper(decoder, decoder.prefill(prompt), self.uses_graphs)
        except torch.OutOfMemoryError as error:
            self._decoders.clear()
            raise LoadGeneratorError(f"batch {batch} does not fit in {self.device} memory: {str(error).splitlines()[0]}") from error
        self._sync()
        self._decoders[batch] = (decoder, stepper, prompt)
        return decoder, stepper, prompt

    def memory_peak_gb(self) -> float | None:
        torch = _torch()
        return torch.cuda.max_memory_allocated() / 1e9 if self.device.startswith("cuda") else None

    def run_prefill(self, batch: int, window_s: float, hooks: WindowHooks) -> PrefillRun:
        """Whole-batch prefills back to back for at least `window_s` (at least one)."""
        decoder, _, prompt = self._prepared(batch)
        hooks.begin()
        start_s = time.perf_counter()
        repeats = 0
        while repeats == 0 or time.perf_counter() - start_s < window_s:
            decoder.prefill(prompt)
            self._sync()
            repeats += 1
        end_s = time.perf_counter()
        hooks.end()
        return PrefillRun(batch, self.prompt_tokens, repeats, start_s, end_s)

    def _pass(self, stepper: _Stepper, batch: int, until_s: float | None) -> list[RequestResult]:
        """One pass of `output_tokens` steps (cut short at `until_s`): `batch` requests."""
        started_s = time.perf_counter()
        times = []
        for offset in range(self.output_tokens):
            stepper.step(self.prompt_tokens + offset)
            self._sync()
            times.append(time.perf_counter())
            if until_s is not None and times[-1] >= until_s:
                break
        token_times = tuple(times)
        return [RequestResult(started_s, token_times, len(token_times), self.prompt_tokens, ended_s=token_times[-1])] * batch

    def run_level(self, concurrency: int, warmup_s: float, window_s: float, hooks: WindowHooks) -> LevelRun:
        _, stepper, _ = self._prepared(concurrency)
        warm_until_s = time.perf_counter() + warmup_s
        while time.perf_counter() < warm_until_s:
            self._pass(stepper, 1, warm_until_s)
        hooks.begin()
        start_s = time.perf_counter()
        requests: list[RequestResult] = []
        while not requests or time.perf_counter() - start_s < window_s:
            requests += self._pass(stepper, concurrency, start_s + window_s)
        end_s = time.perf_counter()
        hooks.end()
        return LevelRun(concurrency, start_s, end_s, tuple(requests))
