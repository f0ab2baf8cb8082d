"""Drive any OpenAI-compatible endpoint (vLLM, SGLang, TGI, llama.cpp server) with streaming.

Each token's arrival is timed from the server-sent events, so TTFT, inter-token latency and the
tokens inside a measurement window come from what the client saw. The server's `usage` report,
asked for with `stream_options.include_usage`, gives the true token counts where it is sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from telemetry.loadgen import LevelRun, LoadGeneratorError, RequestResult, WindowHooks

Api = Literal["completions", "chat"]
PATHS: dict[Api, str] = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}
FAILED_RETRY_S = 0.1
"""A worker whose request failed waits this long, so a broken server is not hammered."""
PROMPT_WORDS = ("the", "energy", "of", "a", "token", "depends", "on", "batch", "and", "memory")


@dataclass(frozen=True)
class OpenAiWorkload:
    url: str
    model: str
    prompt_tokens: int = 512
    output_tokens: int = 256
    api: Api = "completions"
    sample_lengths: bool = False
    """Draw each request's lengths uniformly from half to one and a half times the set ones."""
    request_timeout_s: float = 300.0
    api_key: str | None = None
    seed: int = 0
    name: str = "openai"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise LoadGeneratorError(f"--url {self.url!r} is not an http(s) URL. To fix: pass e.g. http://127.0.0.1:8000.")
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise LoadGeneratorError("prompt and output lengths must be at least 1 token. To fix: raise them.")

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        if base.endswith(tuple(PATHS.values())):
            return base
        return base.removesuffix("/v1") + PATHS[self.api]

    def _body(self, rng: random.Random) -> dict[str, Any]:
        prompt_tokens, output_tokens = self.prompt_tokens, self.output_tokens
        if self.sample_lengths:
            prompt_tokens = max(1, round(prompt_tokens * rng.uniform(0.5, 1.5)))
            output_tokens = max(1, round(output_tokens * rng.uniform(0.5, 1.5)))
        prompt = " ".join(PROMPT_WORDS[i % len(PROMPT_WORDS)] for i in range(prompt_tokens))
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": output_tokens,
            "min_tokens": output_tokens,  # vLLM and SGLang: hold the output length fixed
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.0,
        }
        if self.api == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        return body

    def _chunk_text(self, event: dict[str, Any]) -> str | None:
        choices = event.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        text = (choice.get("delta") or {}).get("content") if self.api == "chat" else choice.get("text")
        return text or None

    async def request(self, client: httpx.AsyncClient, rng: random.Random) -> RequestResult:
        started_s = time.perf_counter()
        token_times: list[float] = []
        usage: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

        def result(error: str | None) -> RequestResult:
            return RequestResult(
                started_s=started_s,
                token_times_s=tuple(token_times),
                output_tokens=int(usage.get("completion_tokens", len(token_times))),
                prompt_tokens=usage.get("prompt_tokens"),
                ended_s=time.perf_counter(),
                error=error,
            )

        try:
            async with client.stream("POST", self.endpoint, json=self._body(rng), headers=headers) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")[:200]
                    return result(f"HTTP {response.status_code} from {self.endpoint}: {body}")
                async for line in response.aiter_lines():
                    if not line.strip() or line.startswith(":"):
                        continue
                    if not line.startswith("data:"):
                        return result(f"malformed server-sent event (no 'data:' field): {line[:80]!r}")
                    payload = line[len("data:") :].strip()
                    if payload == "[DONE]":
                        return result(None)
                    try:
                        event = json.loads(payload)
                    except json.JSONDecodeError:
                        return result(f"malformed server-sent event (not JSON): {payload[:80]!r}")
                    if not isinstance(event, dict):
                        return result(f"malformed server-sent event (not an object): {payload[:80]!r}")
                    if event.get("error"):
                        return result(f"the server reported an error mid-stream: {str(event['error'])[:200]}")
                    if self._chunk_text(event) is not None:
                        token_times.append(time.perf_counter())
                    if isinstance(event.get("usage"), dict):
                        usage = event["usage"]
                return result(f"the stream ended before [DONE] after {len(token_times)} token(s)")
        except httpx.HTTPError as error:
            return result(f"{type(error).__name__} talking to {self.endpoint}: {error}")

    def run_level(self, concurrency: int, warmup_s: float, window_s: float, hooks: WindowHooks) -> LevelRun:
        return asyncio.run(self._level(concurrency, warmup_s, window_s, hooks))

    async def _level(self, concurrency: int, warmup_s: float, window_s: float, hooks: WindowHooks) -> LevelRun:
        results: list[RequestResult] = []
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(self.request_timeout_s, connect=10.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

            async def worker(index: int) -> None:
                rng = random.Random(self.seed * 100_003 + index)
                while not stop.is_set():
                    outcome = await self.request(client, rng)
                    results.append(outcome)
                    if not outcome.ok:
                        await asyncio.sleep(FAILED_RETRY_S)

            workers = [asyncio.create_task(worker(index)) for index in range(concurrency)]
            try:
                await asyncio.sleep(warmup_s)
                if results and not any(r.ok for r in results):
                    raise LoadGeneratorError(f"every request failed during the warm-up; the first: {results[0].error}")
                hooks.begin()
                window_start_s = time.perf_counter()
                await asyncio.sleep(window_s)
                window_end_s = time.perf_counter()
                hooks.end()
            finally:
                # Requests in flight finish (their tokens inside the window count); new ones stop.
                stop.set()
                await asyncio.wait(workers, timeout=self.request_timeout_s)
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        return LevelRun(concurrency, window_start_s, window_end_s, tuple(results))
