import json
import re
from dataclasses import replace

import numpy as np
import pytest

from engine import checkpoint as ckpt
from engine.train import TRAIN_RECIPES, crop_origin, lr_factor, main, train_mask
from engine.world import object_track, sample_scene


def test_train_masks_cover_every_operation():
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(400):
        m = train_mask(rng, 6)
        if not m.any():
            kinds.add("generate")
        elif 0 < m[0] < 1:
            kinds.add("restyle")
        elif m[0] == 1 and m[-1] == 1:
            kinds.add("both ends")
        elif m[0] == 1 and m.sum() == 1:
            kinds.add("first frame")
        elif m[0] == 1:
            kinds.add("start run")
        elif m[-1] == 1:
            kinds.add("end run")
    assert kinds == {"generate", "restyle", "both ends", "first frame", "start run", "end run"}
    assert not train_mask(rng, 1).any()  # an image is only ever generated


def test_plan_shares_choose_the_plans():
    rng = np.random.default_rng(0)
    only_animate = (0, 1, 0, 0, 0, 0)
    for _ in range(50):
        m = train_mask(rng, 5, only_animate)
        assert m.tolist() == [1, 0, 0, 0, 0]
    assert not any(train_mask(rng, 5, (1, 0, 0, 0, 0, 0)).any() for _ in range(50))
    # the default shares keep the plan thresholds the shipped model trained under
    shares = TRAIN_RECIPES["default"].plan_shares
    assert np.allclose(np.cumsum(shares) / sum(shares), [0.45, 0.60, 0.70, 0.78, 0.88, 1.0])
    with pytest.raises(ValueError, match="plan shares"):
        train_mask(rng, 5, (1, 0, 0))


def test_tiny_recipe_trains_writes_checkpoint_and_resumes(tmp_path):
    work = tmp_path / "run"
    assert main(["--recipe", "tiny", "--work", str(work), "--device", "cpu"]) == 0
    vae, dit, card = ckpt.load(work / "checkpoint")
    assert card.trained_on and len(vae.cfg.latent_std) == vae.cfg.latent_channels
    state = json.loads((work / "dit_state.json").read_text())
    assert state["step"] == 20 and state["wall_s"] > 0
    # a second run with more steps resumes from step 20 instead of starting over
    assert main(["--recipe", "tiny", "--work", str(work), "--stage", "dit", "--dit-steps", "22",
                 "--device", "cpu"]) == 0
    lines = [json.loads(l) for l in (work / "log.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["stage"] == "dit"][-1] == 22
    assert all(np.isfinite(l["loss"]) for l in lines)


def test_a_resume_never_silently_starts_over_or_mixes_inputs(tmp_path):
    """The state's step and RNG travel in its safetensors header (one rename commits both); a
    DiT state is refused on a VAE trained on since; a broken state is refused in words."""
    import os
    import pytest
    work = tmp_path / "run"
    args = ["--recipe", "tiny", "--work", str(work), "--device", "cpu"]
    assert main(args) == 0
    (work / "dit_state.json").unlink()                     # the readable copy only
    assert main(args + ["--stage", "dit", "--dit-steps", "22"]) == 0
    dit_steps = [json.loads(l)["step"] for l in (work / "log.jsonl").read_text().splitlines()
                 if json.loads(l)["stage"] == "dit"]
    assert dit_steps.count(dit_steps[0]) == 1 and dit_steps[-1] == 22   # resumed, not redone
    files = {p.name: os.stat(p).st_mode & 0o777 for p in (work / "checkpoint").iterdir()}
    assert len(set(files.values())) == 1, files            # safetensors as readable as the JSON
    with pytest.raises(SystemExit, match="other inputs"):
        main(args + ["--vae-steps", "22", "--dit-steps", "24"])   # the VAE trains on: DiT refused
    state = work / "dit_state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(SystemExit, match="cannot resume"):
        main(args + ["--stage", "dit", "--dit-steps", "24"])


def test_a_state_from_before_a_new_setting_resumes_at_its_default_only(tmp_path):
    from engine.train.loop import check_same_recipe, config_dict
    cfg = TRAIN_RECIPES["tiny"]
    old = config_dict(cfg)
    del old["time_shift_min"], old["world_motions"]        # settings added since it was saved
    check_same_recipe(old, cfg, tmp_path / "state")          # they stand at their defaults: resumes
    with pytest.raises(SystemExit, match="time_shift_min"):
        check_same_recipe(old, replace(cfg, time_shift_min=3.0), tmp_path / "state")


def test_a_diverged_run_stops_and_never_saves_over_the_last_finite_state(tmp_path):
    import pytest
    args = ["--recipe", "tiny", "--work", str(tmp_path / "run"), "--device", "cpu"]
    with pytest.raises(SystemExit, match="not finite|the loss is"):
        main(args + ["--set", "dit_lr=1e6", "--set", "warmup_steps=1"])
    state = tmp_path / "run" / "dit_state.safetensors"
    if state.is_file():                                    # a save before it diverged
        from safetensors.torch import load_file
        assert all(bool(v.float().isfinite().all()) for v in load_file(str(state)).values())


def _tune_decoder(source, tmp_path, setting):
    """Three decoder-stage steps on source with one --set; (source's, the tuned) checkpoints,
    after checking that everything outside the decoder kept its weights (the same latents)."""
    import torch
    out = tmp_path / "tuned"
    assert main(["--recipe", "tiny", "--stage", "decoder", "--from", str(source),
                 "--work", str(tmp_path / "run"), "--out", str(out), "--vae-steps", "3",
                 "--device", "cpu", "--set", setting]) == 0
    old, new = ckpt.load(source), ckpt.load(out)
    before, after = old[0].state_dict(), new[0].state_dict()
    frozen = [k for k in before if not k.startswith("decoder.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    return old, new


def test_decoder_stage_tunes_only_the_decoder_and_keeps_the_dit(tiny_checkpoint, tmp_path):
    import torch
    (vae0, dit0, card0), (vae1, dit1, card1) = _tune_decoder(tiny_checkpoint, tmp_path, "latent_noise=0.3")
    before, after = vae0.state_dict(), vae1.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert vae1.cfg == vae0.cfg  # latent statistics included: the DiT reads the same latents
    assert all(torch.equal(a, b) for a, b in zip(dit0.state_dict().values(), dit1.state_dict().values()))
    assert "decoder 3 steps" in card1.trained_on
    with pytest.raises(SystemExit, match="--out"):
        main(["--recipe", "tiny", "--stage", "decoder", "--from", str(tiny_checkpoint),
              "--work", str(tmp_path / "run2"), "--out", str(tiny_checkpoint), "--device", "cpu"])


def test_decoder_stage_grows_a_lookahead_decoder_on_the_same_latents(tiny_checkpoint, tmp_path):
    from dataclasses import replace
    (vae0, _, _), (vae1, _, card1) = _tune_decoder(tiny_checkpoint, tmp_path, "decoder_lookahead=1")
    assert vae1.cfg == replace(vae0.cfg, decoder_lookahead=1)
    before, after = vae0.state_dict(), vae1.state_dict()
    w = after["decoder.conv_in.conv.weight"]
    assert w.shape[2] == before["decoder.conv_in.conv.weight"].shape[2] + 1 and w[:, :, -1].abs().sum() > 0
    assert "reading 1 latent ahead" in card1.trained_on


def test_temporal_error_counts_only_frame_to_frame_change_between_noisy_tokens():
    import torch
    from engine.train.objectives import temporal_error
    clips = torch.tensor([[0, 0, 12, 3, 2, 2], [0, 12, 4, 1, 2, 2]])  # a 3-frame clip and a still
    noisy = torch.ones(1, 16)
    shared = torch.ones(1, 16, 5)                       # the same error in every frame: no flicker
    assert temporal_error(shared, noisy, clips) == 0
    flicker = torch.zeros(1, 16, 5)
    flicker[0, 4:8] = 1.0                               # frame 1 of the clip alone is off
    flicker[0, 12:] = 9.0                               # the still has no neighbours to differ from
    assert temporal_error(flicker, noisy, clips) == 1.0
    known = noisy.clone()
    known[0, 4:8] = 0.0                                 # frame 1 known: no noisy pair is left
    assert temporal_error(flicker, known, clips) == 0


def test_lr_schedule_warms_up_holds_then_decays_to_its_floor():
    cfg = TRAIN_RECIPES["default"]
    total = 1000
    f = [lr_factor(s, total, cfg) for s in range(total)]
    assert f[0] < 0.05 and abs(f[cfg.warmup_steps] - 1.0) < 1e-9     # linear warm-up
    plateau_end = int(total * (1 - cfg.decay_frac))
    assert all(v == 1.0 for v in f[cfg.warmup_steps:plateau_end])     # constant peak
    decay = f[plateau_end:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))              # monotone cosine decay
    assert abs(lr_factor(total, total, cfg) - cfg.final_lr_frac) < 1e-9
    # a resumed run with the same total follows the same curve: the factor depends on step alone
    assert lr_factor(700, total, cfg) == f[700]


def test_dit_clips_come_from_the_recipes_world():
    from engine.train.data import dit_group
    from engine.train.stages import override
    cfg = override(TRAIN_RECIPES["tiny"], ["world_max_objects=1", "world_static_share=1",
                                           "world_motions=right", "world_blind_share=1", "seconds=0.5"])
    assert cfg.world()["blind_share"] == 1.0
    _, captions, _, _ = dit_group(np.random.default_rng(0), cfg, 16, 4, 1, clips=6)
    from engine.world.caption import CAMERA_PHRASES
    from engine.world.scene import SHAPES
    for text in captions:
        assert any(p in text for p in CAMERA_PHRASES["static"]) and "right" in text, text
        assert len(re.findall(rf"\b({'|'.join(SHAPES)})\b", text)) == 1, text  # one object


def test_a_bad_world_or_shift_option_is_refused_before_anything_is_written(tmp_path, capsys):
    for bad in ("world_motions=sideways", "world_static_share=2", "world_max_objects=0", "world_blind_share=-1",
                "time_shift_min=0.5"):
        with pytest.raises(SystemExit):
            main(["--recipe", "tiny", "--work", str(tmp_path / "run"), "--device", "cpu", "--set", bad])
        assert bad.split("=")[0].split("_")[0] in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_object_crops_contain_an_object_centre_and_stay_in_frame():
    rng = np.random.default_rng(0)
    T, H, W, fps, c = 9, 144, 256, 12.0, 64
    for _ in range(40):
        scene = sample_scene(rng, duration_s=1.0)
        if not scene.objects:
            continue
        y, x = crop_origin(rng, scene, (T, H, W), fps, c, object_share=1.0)
        assert 0 <= y <= H - c and 0 <= x <= W - c
        centres = [object_track(o, np.arange(T) / fps, scene) for o in scene.objects]
        inside = [(x <= cx * W) & (cx * W <= x + c) & (y <= cy * H) & (cy * H <= y + c)
                  for cx, cy, _ in centres]
        assert np.any(inside), "an object-centred crop missed every object"
        y, x = crop_origin(rng, scene, (T, H, W), fps, c, object_share=0.0)
        assert 0 <= y <= H - c and 0 <= x <= W - c


def test_vae_weights_mark_objects_and_a_uniform_weight_changes_nothing():
    import torch
    from engine.train import object_pixels, vae_batch, vae_loss
    from engine.vae import VideoVAE, vae_config
    cfg = TRAIN_RECIPES["tiny"]
    vae = VideoVAE(vae_config("tiny"))
    video, weight = vae_batch(np.random.default_rng(0), cfg, vae.cfg)
    assert weight.shape == (video.shape[0], 1, *video.shape[2:])
    assert set(torch.unique(weight).tolist()) <= {1.0, 1.0 + cfg.vae_object_weight}

    masks = np.zeros((2, 1, 12, 12), bool)
    masks[1, 0, 5, 6] = True
    grown = object_pixels(masks, 2)                                          # (T, H, W)
    assert grown[0].sum() == 0 and grown[1].sum() == 25 and grown[1, 3:8, 4:9].all()

    def loss(w):
        return vae_loss(vae, video, 1e-6, torch.Generator().manual_seed(0), w)
    torch.testing.assert_close(loss(torch.full_like(weight, 3.0))["loss"], loss(None)["loss"])
    assert not torch.allclose(loss(weight)["loss"], loss(None)["loss"])


def test_latent_noise_is_for_a_decoder_on_a_frozen_encoder_and_flicker_costs_loss(tmp_path):
    import torch
    from engine.train import train_vae, vae_batch, vae_loss
    from engine.vae import VideoVAE, vae_config
    torch.manual_seed(0)
    cfg = TRAIN_RECIPES["tiny"]
    vae = VideoVAE(vae_config("tiny"))
    video, _ = vae_batch(np.random.default_rng(0), cfg, vae.cfg)
    assert video.shape[2] > 1
    def loss(noise=0.0, temporal=0.0):
        return vae_loss(vae, video, 1e-6, torch.Generator().manual_seed(0), latent_noise=noise,
                        temporal_weight=temporal)
    torch.testing.assert_close(loss()["loss"], loss()["loss"])
    assert not torch.allclose(loss(0.5)["loss"], loss()["loss"])   # the decoder sees other latents
    plain, timed = loss(), loss(temporal=2.0)
    assert plain["temporal"] > 0
    torch.testing.assert_close(timed["loss"], plain["loss"] + 2.0 * plain["temporal"])
    with pytest.raises(ValueError, match="frozen encoder"):
        train_vae(vae, replace(cfg, latent_noise=0.3), tmp_path)


def test_flow_loss_bench_gives_every_checkpoint_the_same_clips_and_noise(tiny_checkpoint):
    from flow_loss import flow_errors
    from engine import checkpoint as ckpt
    from engine.text import TextEncoder
    vae, dit, _ = ckpt.load(tiny_checkpoint)
    text = TextEncoder(layers=dit.cfg.text_layers)
    a = flow_errors(vae, dit, text, clips=3, times=(0.3, 0.9), recipe="tiny")
    b = flow_errors(vae, dit, text, clips=3, times=(0.3, 0.9), recipe="tiny")
    assert a == b and set(a) == {"object", "background"}
    assert all(np.isfinite(e) and e > 0 for row in a.values() for e in row.values())
    other = flow_errors(vae, dit, text, clips=3, times=(0.3, 0.9), seed=5, recipe="tiny")
    assert other != a                              # the figures come from the clips drawn
    given = flow_errors(vae, dit, text, clips=3, times=(0.3, 0.9), recipe="tiny", context=True)
    assert given != a and all(np.isfinite(e) for row in given.values() for e in row.values())


def test_caption_probe_scores_both_captions_on_the_same_noise(tiny_checkpoint):
    """bench/flow_loss.py --swap [--known K]: repeatable, and giving frames changes the figures."""
    from flow_loss import caption_use
    from engine import checkpoint as ckpt
    from engine.text import TextEncoder
    vae, dit, _ = ckpt.load(tiny_checkpoint)
    text = TextEncoder(layers=dit.cfg.text_layers)
    a = caption_use(vae, dit, text, clips=2, attribute="motion", times=(0.9,), recipe="tiny")
    assert a == caption_use(vae, dit, text, clips=2, attribute="motion", times=(0.9,), recipe="tiny")
    pairs = [pair for row in a.values() for pair in row.values()]
    assert pairs and all(np.isfinite(e) and e > 0 for pair in pairs for e in pair)
    given = caption_use(vae, dit, text, clips=2, attribute="motion", times=(0.9,), recipe="tiny", known=1)
    assert given != a and all(np.isfinite(e) for row in given.values() for pair in row.values() for e in pair)
    # --set: the clips come from the world a training run with those settings draws from
    from flow_loss import main as flow_loss_main
    from engine.train.stages import override
    narrow = override(TRAIN_RECIPES["tiny"], ["world_max_objects=1", "world_blind_share=1",
                                              "world_motions=left,right"])
    assert caption_use(vae, dit, text, clips=2, attribute="motion", times=(0.9,), recipe=narrow) != a
    with pytest.raises(SystemExit, match="--swap"):
        flow_loss_main(["--set", "world_blind_share=1"])


def test_every_training_recipe_names_a_model_recipe_with_the_default_grid():
    from engine.recipes import RECIPES, build
    assert set(TRAIN_RECIPES) == set(RECIPES)
    vae, dit, _ = build("small")                 # the GPU recipe: the default's VAE and token grid
    d_vae, d_dit, _ = build("default")
    assert vae.cfg == d_vae.cfg and dit.cfg.patch == d_dit.cfg.patch and dit.cfg.dim > d_dit.cfg.dim


def test_worldbench_takes_sampler_overrides_and_can_skip_the_vae(tiny_checkpoint, tmp_path):
    import worldbench
    out = tmp_path / "wb.json"
    assert worldbench.main(["--checkpoint", str(tiny_checkpoint), "--limit", "2", "--sizes", "draft",
                            "--skip-vae", "--steps", "1", "--guidance", "2.5", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["sampling"] == {"steps": 1, "guidance": 2.5}
    assert "vae_psnr" not in report and "calibration_vae" not in report and "full" not in report
    assert report["calibration_draft"]["n"] == report["calibration"]["n"] == 2  # the detector at each size
    rows = report["draft"]["rows"]
    assert len(rows) == 4 and {r["wording"] for r in rows} == {"canonical", "paraphrase"}
    with pytest.raises(SystemExit, match="nothing to measure"):
        worldbench.main(["--checkpoint", str(tiny_checkpoint), "--skip-vae", "--vae-only",
                         "--json", str(out)])
