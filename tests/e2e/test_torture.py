"""Crash torture in CI: a few kill rounds of tests/e2e/torture.py (see there for what is
checked; `python tests/e2e/torture.py` runs it as a soak until stopped)."""
import random

from torture import Model, prepare, run_round


def test_acknowledged_state_survives_kill_rounds(tmp_path):
    data = prepare(tmp_path / "data")
    model, rng = Model(), random.Random(20261127)
    for rnd in range(1, 7):
        problems = run_round(data, model, rnd, rng)
        assert problems == [], f"round {rnd}: {problems}"
    # The rounds did real work: deliveries, submissions, APPENDs, MOVEs and EXPUNGEs were
    # acknowledged and then checked.
    assert model.ops > 100 and len(model.delivered) > 50, (model.ops, len(model.delivered))
    assert model.moved and model.remote and model.expunged, (
        len(model.moved), len(model.remote), model.expunged)
