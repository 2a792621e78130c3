"""Ask/tell over the engine's TPE and random samplers: deterministic for a seed."""

import pytest

import cerebro

SPACE = {"x": cerebro.uniform(-5, 5), "kind": cerebro.choice("a", "b", "c"),
         "n": cerebro.quniform(1, 9, 1), "fixed": 7}


def objective(cfg):
    return (cfg["x"] - 1.5) ** 2 + (0 if cfg["kind"] == "b" else 3) + abs(cfg["n"] - 4)


def _trace(sampler, n=25):
    out = []
    for _ in range(n):
        cfg = sampler.ask()
        sampler.tell(cfg, objective(cfg))
        out.append(cfg)
    return out


@pytest.mark.parametrize("make", [
    lambda seed: cerebro.TPESampler(SPACE, seed=seed, n_startup_trials=5),
    lambda seed: cerebro.RandomSampler(SPACE, seed=seed),
])
def test_same_seed_same_proposals(make):
    a, b = _trace(make(0)), _trace(make(0))
    assert a == b
    assert _trace(make(1)) != a
    assert all(set(c) == {"x", "kind", "n", "fixed"} and c["fixed"] == 7 for c in a)


def test_tpe_beats_its_random_start():
    trace = _trace(cerebro.TPESampler(SPACE, seed=0, n_startup_trials=8), 40)
    startup = min(objective(c) for c in trace[:8])
    assert min(objective(c) for c in trace[8:]) < startup


def test_maximize_and_pending_proposals():
    s = cerebro.TPESampler({"x": cerebro.uniform(0, 1)}, seed=0, direction="maximize")
    a, b = s.ask(), s.ask()  # two in flight at once
    s.tell(b, b["x"])
    s.tell(a, a["x"])
    assert s.asked == 2


def test_tell_errors():
    s = cerebro.TPESampler({"x": cerebro.uniform(0, 1)}, seed=0)
    cfg = s.ask()
    with pytest.raises(ValueError, match="NaN"):
        s.tell(cfg, float("nan"))
    s.tell(cfg, 0.5)
    with pytest.raises(ValueError, match="not a pending proposal"):
        s.tell(cfg, 0.5)


def test_bad_space_and_knob():
    with pytest.raises(ValueError, match=r"params\.x"):
        cerebro.TPESampler({"x": {"uniform": [2, 1]}})
    with pytest.raises(ValueError, match=r"search\.n_ei_candidates"):
        cerebro.TPESampler({"x": cerebro.uniform(0, 1)}, n_ei_candidates=0)
    with pytest.raises(ValueError, match="direction"):
        cerebro.RandomSampler({"x": cerebro.uniform(0, 1)}, direction="up")
