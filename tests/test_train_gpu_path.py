"""The pieces that let a lent GPU train the default model: render workers, clip groups encoded as
one batch, runs that plan their length to fit a time budget, config overrides and DiT warm starts.
All run on the CPU with the tiny recipe."""
import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import checkpoint as ckpt
from engine.train import TRAIN_RECIPES, main, run_loop
from engine.train.data import dit_group
from engine.train.loop import FIT_PROBE
from engine.train.stages import override
from engine.train.workers import stream


def _draw(rng):
    return int(rng.integers(1 << 30))


def test_worker_stream_is_seeded_and_reproducible():
    a = [next(s) for s in [stream(_draw, 2, seed=5)] for _ in range(6)]
    b = [next(s) for s in [stream(_draw, 2, seed=5)] for _ in range(6)]
    c = [next(s) for s in [stream(_draw, 2, seed=6)] for _ in range(6)]
    assert a == b and a != c
    assert len(set(a)) == 6  # the two workers draw from different generators
    with pytest.raises(ValueError):
        stream(_draw, 0, seed=5)


def test_dit_group_shares_one_shape_and_its_token_masks_fit():
    cfg = TRAIN_RECIPES["tiny"]
    mult, tf = 4, 4
    videos, captions, fps, fgs = dit_group(np.random.default_rng(0), cfg, mult, tf, 1, clips=3)
    B, C, T, H, W = videos.shape
    assert B == 3 == len(captions) == len(fgs) and C == 3 and (T - 1) % tf == 0
    assert fps in cfg.fps and videos.min() >= -1 and videos.max() <= 1
    assert all(fg.shape == (1 + (T - 1) // tf, H // mult, W // mult) for fg in fgs)
    assert not torch.equal(videos[0], videos[1])  # different scenes, one shape


def test_override_parses_field_types_and_refuses_unknown_fields():
    cfg = override(TRAIN_RECIPES["tiny"], ["dit_clips=48", "dit_lr=1e-3", "long_sides=16,32",
                                           "aspects=16:9,1:1"])
    assert (cfg.dit_clips, cfg.dit_lr, cfg.long_sides, cfg.aspects) == (48, 1e-3, (16, 32), ("16:9", "1:1"))
    for bad in (["no_such_field=1"], ["dit_clips"], ["dit_clips=many"]):
        with pytest.raises(SystemExit):
            override(cfg, bad)


def test_a_fitted_run_plans_its_steps_and_a_resume_keeps_the_plan(tmp_path):
    model = torch.nn.Linear(2, 1)
    ema = torch.nn.Linear(2, 1).requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = replace(TRAIN_RECIPES["tiny"], save_every_s=1e9)
    def step_fn(rng, gen):
        return {"loss": model(torch.ones(1, 2)).pow(2).sum()}
    with pytest.raises(ValueError):
        run_loop("x", model, ema, opt, tmp_path, 10**9, None, 0, step_fn, cfg, 0.9, fit=True)
    step, _, planned = run_loop("x", model, ema, opt, tmp_path, 10**9, 0.01, 0, step_fn, cfg, 0.9, fit=True)
    assert FIT_PROBE[1] < planned < 10**9 and step <= planned
    saved = json.loads((tmp_path / "x_state.json").read_text())
    assert (saved["step"], saved["planned_steps"]) == (step, planned)
    # resumed without fit and with another configured length, the run keeps its planned count
    _, _, again = run_loop("x", model, ema, opt, tmp_path, 5, 0.01, 0, step_fn, cfg, 0.9)
    assert again == planned


def test_a_fitted_run_replans_only_on_its_plateau():
    from engine.train.loop import lr_factor, refit
    cfg = TRAIN_RECIPES["default"]                      # decay over the last 40% of the plan
    faster = refit(120, 643, per_step=0.3, seconds_left=200.0, cfg=cfg)
    assert faster == 120 + int(0.92 * 200 / 0.3)        # steps sped up: the plan grows to fill the time
    # every step taken so far had the learning rate the new plan gives it
    assert all(lr_factor(s, 643, cfg) == lr_factor(s, faster, cfg) for s in range(121))
    assert refit(480, 643, per_step=0.1, seconds_left=100.0, cfg=cfg) == 643   # already decaying
    assert refit(240, 643, per_step=1.0, seconds_left=50.0, cfg=cfg) == 643    # it would be decaying


def _one_step_from(source: Path, vae_final: Path, work: Path):
    """A DiT stage on vae_final started from source's DiT: one step at a vanishing learning rate.
    Returns the written checkpoint's (DiT, card)."""
    work.mkdir()
    (work / "vae_final").symlink_to(vae_final)
    assert main(["--recipe", "tiny", "--stage", "dit", "--work", str(work), "--device", "cpu",
                 "--dit-steps", "1", "--set", "warmup_steps=1000000", "--init-dit", str(source)]) == 0
    _, dit, card = ckpt.load(work / "checkpoint")
    return dit, card


def test_init_dit_starts_from_a_checkpoint_and_refuses_another_vae(tmp_path):
    first = tmp_path / "first"
    assert main(["--recipe", "tiny", "--work", str(first), "--device", "cpu", "--workers", "1",
                 "--vae-steps", "3", "--dit-steps", "3", "--set", "group_clips=2"]) == 0
    _, start, _ = ckpt.load(first / "checkpoint")
    after, card = _one_step_from(first / "checkpoint", first / "vae_final", tmp_path / "second")
    # one step at a vanishing learning rate: the DiT is the one it started from
    for a, b in zip(start.state_dict().values(), after.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert card.trained_on.count("DiT") == 2
    other = tmp_path / "other"
    assert main(["--recipe", "tiny", "--stage", "vae", "--work", str(other), "--device", "cpu",
                 "--vae-steps", "3"]) == 0
    with pytest.raises(SystemExit, match="VAE"):
        main(["--recipe", "tiny", "--stage", "dit", "--work", str(other), "--device", "cpu",
              "--init-dit", str(first / "checkpoint")])


def test_init_dit_grows_a_dit_from_before_fractional_positions(tmp_path):
    """assets/default predates abs_pos and the convolutional head: a recipe with them starts
    from that DiT, unchanged, and learns the new parts from zero."""
    from engine.dit import DiT
    first = tmp_path / "first"
    assert main(["--recipe", "tiny", "--work", str(first), "--device", "cpu", "--vae-steps", "2",
                 "--dit-steps", "2"]) == 0
    vae, dit, card = ckpt.load(first / "checkpoint")
    legacy = DiT(replace(dit.cfg, abs_pos=False, refine=0))
    legacy.load_state_dict({k: v for k, v in dit.state_dict().items()
                            if not k.startswith(("pos_embed.", "refine."))})
    ckpt.save(tmp_path / "legacy", vae, legacy, card)
    grown, card = _one_step_from(tmp_path / "legacy", first / "vae_final", tmp_path / "second")
    assert grown.cfg.abs_pos and "fractional positions and a convolutional head" in card.trained_on
    assert grown.pos_embed.weight.abs().max() < 1e-4      # one step at a vanishing learning rate
    assert grown.refine.out.weight.abs().max() < 1e-4
    for k, v in legacy.state_dict().items():
        torch.testing.assert_close(grown.state_dict()[k], v, atol=1e-4, rtol=0)


def test_init_dit_grows_a_dit_that_read_the_last_text_layer_only(tmp_path):
    """assets/default reads MiniLM's last layer only: a recipe that also reads the token
    embeddings starts from it unchanged, the new inputs' weights at zero."""
    from engine.dit import DiT
    first = tmp_path / "first"
    assert main(["--recipe", "tiny", "--work", str(first), "--device", "cpu", "--vae-steps", "2",
                 "--dit-steps", "2"]) == 0
    vae, dit, card = ckpt.load(first / "checkpoint")
    assert dit.cfg.text_layers == (6, 0)
    legacy = DiT(replace(dit.cfg, text_layers=(6,)))
    narrow = {k: v[:, :384] if v.ndim == 2 and v.shape[1] == 768 else v for k, v in dit.state_dict().items()}
    legacy.load_state_dict(narrow)
    ckpt.save(tmp_path / "legacy", vae, legacy, card)
    grown, card = _one_step_from(tmp_path / "legacy", first / "vae_final", tmp_path / "second")
    assert grown.cfg.text_layers == (6, 0) and "text layers 0" in card.trained_on
    state = grown.state_dict()
    for k, v in legacy.state_dict().items():
        torch.testing.assert_close(state[k][:, :384] if state[k].shape != v.shape else state[k], v,
                                   atol=1e-4, rtol=0)
        if state[k].shape != v.shape:
            assert state[k][:, 384:].abs().max() < 1e-4   # one step at a vanishing learning rate


def test_a_resume_under_other_settings_is_refused(tmp_path):
    work = str(tmp_path / "run")
    base = ["--recipe", "tiny", "--stage", "vae", "--work", work, "--device", "cpu"]
    assert main(base + ["--vae-steps", "2", "--set", "vae_object_weight=0"]) == 0
    with pytest.raises(SystemExit, match="vae_object_weight"):
        main(base + ["--vae-steps", "4"])                        # the --set was forgotten
    assert main(base + ["--vae-steps", "4", "--set", "vae_object_weight=0"]) == 0   # length may change
    assert json.loads((tmp_path / "run" / "vae_state.json").read_text())["step"] == 4
