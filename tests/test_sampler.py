import pytest
import torch

from engine.sampler import (Cancelled, ConditioningPlan, classifier_free_guidance, sample,
                            schedule, shift_for_tokens, shift_time)


def oracle(x0):
    """The exact velocity toward x0: x_t = (1-t) x0 + t n  =>  v = n - x0 = (x_t - x0) / t."""
    def velocity(x, t):
        tt = t[:, None, :, None, None].to(x.dtype)
        return torch.where(tt > 0, (x - x0) / tt.clamp(min=1e-12), torch.zeros_like(x))
    return velocity


@pytest.mark.parametrize("steps", [1, 4, 50])
@pytest.mark.parametrize("method", ["euler", "heun"])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_oracle_velocity_lands_on_x0(steps, method, shift):
    x0 = torch.randn(1, 3, 2, 4, 5, dtype=torch.float64)
    plan = ConditioningPlan(shape=(3, 2, 4, 5))
    out = sample(oracle(x0), plan, steps=steps, generator=torch.Generator().manual_seed(0),
                 shift=shift, method=method, dtype=torch.float64)
    assert torch.allclose(out, x0, atol=1e-9)


def test_time_convention_x_t_interpolates_data_and_noise():
    # one Euler step from t=1 with v = noise - x0 takes pure noise exactly to x0
    x0 = torch.randn(1, 2, 1, 3, 3)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    out = sample(lambda x, t: noise - x0, ConditioningPlan(shape=(2, 1, 3, 3)), steps=1, generator=g)
    assert torch.allclose(out, x0, atol=1e-6)


def test_known_frames_are_bit_identical_and_partial_frames_wait():
    C, T, h, w = 2, 4, 3, 3
    known = torch.randn(C, T, h, w)
    mask = torch.tensor([1.0, 0.0, 0.4, 1.0])
    seen = []

    def velocity(x, t):
        seen.append(t.clone())
        return torch.randn(x.shape, generator=torch.Generator().manual_seed(len(seen)))

    out = sample(velocity, ConditioningPlan((C, T, h, w), known, mask), steps=6,
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0, :, 0], known[:, 0]) and torch.equal(out[0, :, 3], known[:, 3])
    assert not torch.equal(out[0, :, 1], known[:, 1])
    times = torch.stack(seen)[:, 0]                      # (steps, T)
    assert (times[:, 0] == 0).all() and (times[:, 3] == 0).all()
    assert (times[:, 2] <= 0.6 + 1e-9).all() and times[0, 1] == 1.0


def test_strength_zero_returns_input_and_sdedit_runs_fewer_steps():
    known = torch.randn(2, 3, 4, 4)
    calls = []
    out = sample(lambda x, t: calls.append(1) or torch.zeros_like(x),
                 ConditioningPlan((2, 3, 4, 4), known, torch.ones(3)), steps=10,
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0], known) and not calls
    assert len(schedule(10, 1.0, t_start=0.5)) - 1 == 5
    on_grid = float(shift_time(torch.tensor(0.5, dtype=torch.float64), 3.0)) + 1e-7
    assert len(schedule(10, 3.0, t_start=on_grid)) - 1 == 5    # no sliver of a step first
    assert schedule(10, 3.0)[0] == 1.0 and schedule(10, 3.0)[-1] == 0.0


def test_shift_pushes_times_toward_noise():
    t = torch.tensor([0.25, 0.5, 0.75])
    assert (shift_time(t, 3.0) > t).all() and torch.equal(shift_time(t, 1.0), t)


def test_shift_for_tokens_grows_with_the_grid_within_its_bounds():
    assert shift_for_tokens(256, 256) == 1.0 and shift_for_tokens(1024, 256) == 2.0
    assert shift_for_tokens(64, 256) == 1.0 and shift_for_tokens(10**6, 256) == 6.0
    assert shift_for_tokens(64, 256, min_shift=2.0) == 2.0
    assert shift_for_tokens(4096, 256, min_shift=2.0) == 4.0   # the floor leaves large grids be
    with pytest.raises(ValueError, match="min_shift"):
        shift_for_tokens(64, 256, min_shift=0.5)


def test_same_seed_same_sample_and_explicit_generator():
    v = lambda x, t: 0.3 * x
    plan = ConditioningPlan(shape=(2, 2, 3, 3))
    a = sample(v, plan, steps=5, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(999)  # the global RNG must not matter
    b = sample(v, plan, steps=5, generator=torch.Generator().manual_seed(7))
    c = sample(v, plan, steps=5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guidance_is_one_batched_call():
    calls = []

    def pair(x, t):
        calls.append(x.shape[0])
        half = x.shape[0] // 2
        return torch.cat([torch.ones_like(x[:half]), torch.zeros_like(x[half:])])

    v = classifier_free_guidance(pair, 3.0)(torch.zeros(2, 1, 1, 1, 1), torch.ones(2, 1))
    assert calls == [4] and torch.allclose(v, torch.full_like(v, 3.0))


def test_guidance_interval_runs_the_conditional_alone_outside_it():
    calls = []

    def pair(x, t):
        calls.append(("pair", x.shape[0]))
        half = x.shape[0] // 2
        return torch.cat([torch.ones_like(x[:half]), torch.zeros_like(x[half:])])

    def cond(x, t):
        calls.append(("cond", x.shape[0]))
        return torch.full_like(x, 7.0)

    v = classifier_free_guidance(pair, 3.0, interval=(0.3, 0.9), velocity_cond=cond)
    x = torch.zeros(1, 1, 2, 1, 1)
    # the latest frame's time decides: a known frame waiting at t = 0 does not switch guidance off
    assert torch.allclose(v(x, torch.tensor([[0.0, 0.5]])), torch.full_like(x, 3.0))
    assert torch.allclose(v(x, torch.tensor([[0.0, 0.25]])), torch.full_like(x, 7.0))
    assert torch.allclose(v(x, torch.tensor([[0.95, 0.95]])), torch.full_like(x, 7.0))
    assert torch.allclose(v(x, torch.tensor([[0.85, 0.85]])), torch.full_like(x, 3.0))
    assert calls == [("pair", 2), ("cond", 1), ("cond", 1), ("pair", 2)]
    with pytest.raises(ValueError, match="velocity_cond"):
        classifier_free_guidance(pair, 3.0, interval=(0.3, 1.0))
    with pytest.raises(ValueError, match="interval"):
        classifier_free_guidance(pair, 3.0, interval=(0.5, 0.5), velocity_cond=cond)


def test_cancel_stops_within_one_step_and_callback_previews():
    steps_seen = []
    with pytest.raises(Cancelled):
        sample(lambda x, t: torch.zeros_like(x), ConditioningPlan(shape=(1, 1, 2, 2)), steps=10,
               generator=torch.Generator().manual_seed(0),
               callback=lambda i, n, x0: steps_seen.append(i), cancel=lambda: len(steps_seen) >= 3)
    assert steps_seen == [1, 2, 3]


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="needs `known`"):
        ConditioningPlan((1, 2, 2, 2), None, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="mask"):
        ConditioningPlan((1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ConditioningPlan((1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.tensor([1.5, 0.0]))


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_a_known_region_comes_back_exactly_and_the_rest_is_generated(method):
    C, T, h, w = 2, 1, 4, 6
    known = torch.randn(C, T, h, w)
    region = torch.zeros(T, h, w)
    region[:, :, :3] = 1.0                               # the left half is known
    x0 = torch.randn(1, C, T, h, w)
    seen = []

    def velocity(x, t):                                  # the oracle, recording what it is shown
        seen.append((x.clone(), t.clone()))
        return oracle(x0)(x, t)

    plan = ConditioningPlan((C, T, h, w), known, region=region)
    out = sample(velocity, plan, steps=5, generator=torch.Generator().manual_seed(0), method=method)
    assert torch.equal(out[0, ..., :3], known[..., :3])                # exactly, not nearly
    assert torch.allclose(out[0, ..., 3:], x0[0, ..., 3:], atol=1e-5)
    noise = torch.randn((1, C, T, h, w), generator=torch.Generator().manual_seed(0))
    for x, t in seen:                                    # the model sees the region on its own path
        tt = float(t[0, 0])
        assert torch.allclose(x[0, ..., :3], (1 - tt) * known[..., :3] + tt * noise[0, ..., :3], atol=1e-5)
    with pytest.raises(ValueError, match="region"):
        ConditioningPlan((C, T, h, w), known, region=torch.zeros(T, h, w + 1))
    with pytest.raises(ValueError, match="needs `known`"):
        ConditioningPlan((C, T, h, w), region=region)
