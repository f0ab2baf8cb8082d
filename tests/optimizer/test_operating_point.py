import pytest

from optimizer.operating_point import MeasuredPoint, OperatingPoint, PrefillEstimate, Unusable, end_to_end


def _point(**overrides) -> MeasuredPoint:
    values = dict(
        measurement_id=1,
        source="test",
        source_key="k",
        model="m",
        hardware="H200-SXM-141GB",
        runtime="graph",
        gpus_per_replica=1,
        load=4,
        prompt_tokens=100,
        output_tokens=10,
        energy_scope="phases",
        output_tok_s=400.0,
        tpot_ms=10.0,
        tpot_stat="mean",
        ttft_ms=50.0,
        ttft_stat="mean",
        prefill_s=0.05,
        prefill_j_per_prompt_token=0.1,
        decode_j_per_token=0.5,
        busy_power_w=200.0,
        peak_power_w=None,
        gpu_tdp_w=700.0,
    )
    values.update(overrides)
    return MeasuredPoint(**values)


def test_phases_make_a_whole_cycle():
    # cycle = 0.05 s prefill + 10 x 10 ms decode = 0.15 s for 4 x 10 = 40 tokens;
    # energy = 0.1 J x 4 x 100 prompt tokens + 0.5 J x 40 = 40 + 20 = 60 J.
    result = end_to_end(_point())
    assert isinstance(result, OperatingPoint)
    assert result.tok_s == pytest.approx(40 / 0.15)
    assert result.power_w == pytest.approx(60 / 0.15)
    assert result.joules_per_token == pytest.approx(60 / 40)
    assert result.peak_power_w == pytest.approx(40 / 0.05)  # prefill at 800 W is the peak
    assert not result.prefill_energy_estimated


def test_unusable_prefill_energy_is_charged_at_tdp_and_flagged():
    result = end_to_end(_point(prefill_j_per_prompt_token=None))
    assert isinstance(result, OperatingPoint)
    assert result.power_w == pytest.approx((0.05 * 700 + 20) / 0.15)
    assert result.prefill_energy_estimated and result.peak_power_estimated
    assert result.peak_power_w == pytest.approx(700)


def test_whole_request_scope_is_taken_as_measured():
    whole = end_to_end(_point(energy_scope="whole_request", prefill_s=None, ttft_ms=None, ttft_stat=None))
    assert isinstance(whole, OperatingPoint)
    assert whole.tok_s == pytest.approx(400) and whole.power_w == pytest.approx(200)
    assert whole.ttft_unverified and not whole.prefill_energy_estimated
    assert whole.peak_power_w == pytest.approx(700) and whole.peak_power_estimated


def test_a_decode_window_alone_is_charged_its_prefill_never_planned_as_free():
    alone = end_to_end(_point(energy_scope="decode_only", prefill_s=None, prefill_j_per_prompt_token=None))
    assert isinstance(alone, Unusable) and "no prefill measurement or estimate" in alone.reason
    # 0.2 J and 0.125 ms per prompt token: 400 prompt tokens cost 80 J over 0.05 s, the decode 20 J over 0.1 s
    estimate = PrefillEstimate(j_per_prompt_token=0.2, s_per_prompt_token=0.05 / 400, basis="test")
    charged = end_to_end(_point(energy_scope="decode_only", prefill_s=None, prefill_estimate=estimate))
    assert isinstance(charged, OperatingPoint) and charged.prefill_energy_estimated
    assert charged.tok_s == pytest.approx(40 / 0.15)
    assert charged.joules_per_token == pytest.approx((80 + 20) / 40)
    assert charged.joules_per_token > 0.5  # the decode window alone said 0.5 J/token
    assert charged.peak_power_w == pytest.approx(80 / 0.05)
    no_prompt = end_to_end(_point(energy_scope="decode_only", prompt_tokens=None, prefill_estimate=estimate))
    assert isinstance(no_prompt, Unusable)


def test_no_decode_energy_gives_no_operating_point():
    result = end_to_end(_point(decode_j_per_token=None))
    assert isinstance(result, Unusable) and "decode energy" in result.reason
