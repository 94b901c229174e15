"""The prepared GPU benchmark (``benchmarks/gpu.py``) in its quick mode on the CPU, and ``plan`` reading what it
writes: a lent device then spends its minutes on measuring, not on finding a broken script."""

from __future__ import annotations

import json

import pytest

from benchmarks import gpu
from paperlib import costs, plan


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-quick")
    assert gpu.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "gpu_times.json").read_text())


def test_quick_run_times_every_small_kind_and_variant_and_interplay(quick):
    out, record = quick
    configs = gpu.step_configs(quick=True)
    assert set(record["variants"]) == set(configs) and len(configs) >= 3
    for name, by_variant in record["variants"].items():
        wanted = {"float32", "bf16_autocast"} | (
            {"channels_last"} if hasattr(configs[name], "recipe") else set()
        )
        assert set(by_variant) == wanted, name
        assert all(e.get("step_s", 0) > 0 for e in by_variant.values()), by_variant
    assert record["steps"] == {k: v["float32"] for k, v in record["variants"].items()}
    assert [(r["dtype"], r["seconds"] > 0, 0 < r["mir"] <= 1) for r in record["interplay"]] == [
        ("float32", True, True),
        ("float64", True, True),
    ]
    text = (out / "gpu_results.md").read_text()
    assert record["device"] in text.splitlines()[0] and all(name in text for name in record["variants"])


def test_plan_uses_measured_steps_of_its_device_class_only(quick, monkeypatch):
    out, record = quick
    name, entry = next(iter(record["steps"].items()))
    like = gpu.step_configs(quick=True)[name]
    images = 3 * entry["images"]
    # a class the measuring device does not belong to ignores its figures and estimates from counted work
    other = costs.DeviceClass("other", "no such device", 1.0, 1.0, "test")
    assert costs.measured(out / "gpu_times.json", other) == {}
    estimate, measured = costs.gpu_seconds(name, like, images, {})
    w = costs.work(name, like)
    assert not measured
    assert estimate == max(
        w["flops_per_image"] * images / costs.GPU.sustained_flops, w["ops"] * costs.GPU.launch_s
    )
    # a class that this device belongs to takes the measurement, scaled linearly with the images
    mine = costs.DeviceClass(record["device"], record["device"], 1.0, 1.0, "test")
    times = costs.measured(out / "gpu_times.json", mine)
    assert costs.gpu_seconds(name, like, images, times) == (pytest.approx(3 * entry["step_s"]), True)
    monkeypatch.setattr(costs, "GPU", mine)
    assert f"measured on {record['device']}" in plan.report("smoke", gpu_times=times)


def test_unknown_phase_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        gpu.main(["--quick", "--phases", "steps,warp"])
    assert "unknown phase(s) warp" in capsys.readouterr().err


def test_merge_puts_the_device_section_into_results_once(quick, tmp_path):
    quick_out, record = quick
    with pytest.raises(SystemExit, match="--quick run"):  # toy steps would pass for measured ones in plan
        gpu.merge(quick_out, into=tmp_path)
    out, record = tmp_path / "full", {**record, "quick": False}  # the same files, as a full run writes them
    out.mkdir()
    (out / "gpu_times.json").write_text(json.dumps(record))
    (out / "gpu_results.md").write_text((quick_out / "gpu_results.md").read_text())
    (tmp_path / "RESULTS.md").write_text(
        "# Benchmarks\n\n## Targets\n\nx\n\n## GPU: old device\n\nold\n\n## Later\n\ny\n"
    )
    gpu.merge(out, into=tmp_path)
    gpu.merge(out, into=tmp_path)
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count(gpu.GPU_SECTION) == 1 and "old device" not in text and "## Later" in text
    assert text.endswith((out / "gpu_results.md").read_text())
    assert json.loads((tmp_path / "gpu_times.json").read_text()) == record
    with pytest.raises(SystemExit, match="lacks gpu_times.json"):
        gpu.merge(tmp_path / "nowhere", into=tmp_path)
