from optimizer.candidates import Flag, build_candidates
from tests.optimizer.factories import point, workload


def test_slo_filter_and_length_matching():
    points = [
        point("A", tok_s=1000, power_w=400, tpot_ms=10, load=16),
        point("A", tok_s=3000, power_w=600, tpot_ms=30, load=64, measurement_id=1),  # misses TPOT 20
        point("A", tok_s=900, power_w=380, tpot_ms=9, load=8, prompt=2048, measurement_id=2),  # other lengths
        point("B", tok_s=800, power_w=300, tpot_ms=12, ttft_ms=5000, measurement_id=3),  # misses TTFT 1000
    ]
    result = build_candidates([workload(tpot=20, ttft=1000)], points)
    assert [c.point.measurement_id for c in result.candidates] == [0]
    assert result.pruned == {
        "measured at other prompt/output lengths or on another task": 1,
        "misses the TPOT SLO": 1,
        "misses the TTFT SLO": 1,
    }


def test_dominated_candidates_go_only_within_one_hardware_and_replica_size():
    points = [
        point("A", tok_s=2000, power_w=500, load=32),
        point("A", tok_s=1500, power_w=550, load=16, measurement_id=1),  # dominated by load 32
        point("A", tok_s=1000, power_w=300, load=8, measurement_id=2),  # less power: kept
        point("B", tok_s=1000, power_w=900, load=8, measurement_id=3),  # other hardware: kept
    ]
    result = build_candidates([workload()], points)
    assert sorted(c.point.measurement_id for c in result.candidates) == [0, 2, 3]
    assert result.pruned["dominated within its (workload, hardware, gpus per replica)"] == 1
    unpruned = build_candidates([workload()], points, prune=False)
    assert len(unpruned.candidates) == 4


def test_unserved_workload_names_the_fastest_configuration():
    points = [point("H200", tok_s=100, power_w=400, tpot_ms=31), point("H100", tok_s=90, power_w=400, tpot_ms=36, measurement_id=1)]
    result = build_candidates([workload(name="big", tpot=20)], points)
    assert result.candidates == ()
    assert result.unserved["big"] == (
        "no measured configuration of m meets TPOT 20 ms; fastest is 31.0 ms on H200 (graph, batch 16)"
    )


def test_flags_say_what_the_data_cannot_show():
    weak = point("A", tok_s=1000, power_w=400, ttft_ms=None)
    (only,) = build_candidates([workload(ttft=500)], [weak]).candidates
    assert Flag("ttft_unverified") in only.flags
    mean_stat = point("A", tok_s=1000, power_w=400)
    from dataclasses import replace

    (measured_mean,) = build_candidates([workload()], [replace(mean_stat, tpot_stat="mean", ttft_stat="mean")]).candidates
    assert Flag("slo_statistic_unverified", "measured mean, SLO is p95") in measured_mean.flags
