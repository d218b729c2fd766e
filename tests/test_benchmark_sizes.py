"""The sizes benchmark's own arithmetic: EMS slot use read from real episodes, and the fitted exponents."""
import numpy as np
import pytest

from third_party_parity.benchmarks import sizes, throughput
from third_party_parity.benchmarks.__main__ import make_parser


def test_ems_slot_use_is_the_peak_count_per_item_within_the_slots():
  peaks = sizes.ems_slot_use(num_items=5, generator="cut", num_instances=4)
  assert peaks.shape == (4,)
  # At least the container's one EMS before the first placement; never more than the slots kept.
  assert np.all(peaks >= 1 / 5) and np.all(peaks <= sizes.SLOT_SURPLUS)


def test_exponents_recover_a_power_law():
  rows = [{"items": n, **{part: 3e-6 * n ** (1 + index / 4) for index, part in enumerate(sizes.PARTS)}}
          for n in (20, 50, 100, 200)]
  fitted = sizes.exponents(rows)
  for index, part in enumerate(sizes.PARTS):
    assert fitted[part] == pytest.approx(1 + index / 4)


def test_results_of_separate_runs_merge_by_size(tmp_path, capsys):
  row = lambda n, scale: {"items": n, **{part: scale * n ** 2 for part in sizes.PARTS}}
  sizes.write_results([row(20, 1.0), row(50, 1.0)], tmp_path)
  rows, fitted = sizes.write_results([row(50, 2.0), row(100, 1.0)], tmp_path)
  assert [(r["items"], r[next(iter(sizes.PARTS))]) for r in rows] == [(20, 400.0), (50, 5000.0), (100, 10000.0)]
  assert (tmp_path / "sizes.png").stat().st_size > 0 and set(fitted) == set(sizes.PARTS)
  assert "over every size" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.optimized_xla
def test_train_sizes_times_each_size_and_the_mixed_ones(capsys, monkeypatch):
  monkeypatch.setattr(throughput, "ems_slots", lambda num_items: 3 * num_items)  # pack's 160 at least: slow here
  args = make_parser().parse_args(["train_sizes", "--sizes=3,6", "--rollout_batch_size=4"])
  results = throughput.bench_train_sizes(args)
  assert list(results) == ["3 items", "mixed 3,6"]
  assert all(result["iteration_s"] > 0 for result in results.values())
  # Four episodes of 3 items (each cut into 2) place at most 8; some of the mixed ones have 5 items.
  assert results["3 items"]["decisions_per_iteration"] <= 8 < results["mixed 3,6"]["decisions_per_iteration"]
  assert "mixed 3,6: iteration" in capsys.readouterr().out
