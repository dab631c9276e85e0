import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import checkpoint as ckpt
from engine.io import probe_video
from engine.runtime import Engine

ROOT = Path(__file__).resolve().parent.parent


def test_same_seed_same_video_and_seed_matters(tiny_engine):
    opts = dict(seconds=1.0, aspect="16:9", seed=3)
    [a] = tiny_engine.generate("a red ball moves right over green grass", **opts)
    [b] = tiny_engine.generate("a red ball moves right over green grass", **opts)
    [c] = tiny_engine.generate("a red ball moves right over green grass", **{**opts, "seed": 4})
    assert a.frames.dtype == np.uint8 and a.frames.shape == (13, 36, 64, 3)
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)
    assert "red" in a.caption and "ball" in a.caption


def test_variations_are_reproducible_one_by_one(tiny_engine):
    results = tiny_engine.generate("a blue box", seconds=0.5, seed=10, variations=2, draft=True)
    assert [r.request.seed for r in results] == [10, 11]
    [again] = tiny_engine.generate("a blue box", seconds=0.5, seed=11, draft=True)
    assert np.array_equal(results[1].frames, again.frames)


def test_progress_reports_every_step_with_a_preview(tiny_engine):
    events = []
    tiny_engine.generate("a star", seconds=0.5, seed=1, steps=3, progress=events.append)
    assert [e.step for e in events] == [1, 2, 3] and events[-1].total == 3
    assert events[0].preview.dtype == np.uint8 and events[0].preview.shape[-1] == 3


def test_cancel_raises_and_returns_nothing(tiny_engine):
    from engine import Cancelled
    with pytest.raises(Cancelled):
        tiny_engine.generate("a star", seconds=0.5, seed=1, steps=4, cancel=lambda: True)


def test_image_is_one_frame_at_every_aspect(tiny_engine):
    for aspect, (w, h) in {"16:9": (64, 36), "9:16": (36, 64), "1:1": (64, 64)}.items():
        r = tiny_engine.image("a yellow star", aspect=aspect, seed=0)
        assert r.frames.shape == (1, h, w, 3)


@pytest.mark.parametrize("options,message", [
    (dict(width=63, height=36), "multiple of 2"),
    (dict(width=64), "both --width and --height"),
    (dict(frames=12), "1 \\+ k\\*2"),
    (dict(frames=99), "extending"),
    (dict(width=512, height=256), "largest size"),
    (dict(fps=500), "fps"),
    (dict(aspect="wide"), "ratio"),
])
def test_bad_requests_are_refused_clearly(tiny_engine, options, message):
    with pytest.raises(ValueError, match=message):
        tiny_engine.resolve("generate", "a ball", **options)


def test_checkpoint_round_trip_and_refusals(tiny_checkpoint, tmp_path):
    vae, dit, card = ckpt.load(tiny_checkpoint)
    out = ckpt.save(tmp_path / "copy", vae, dit, card)
    vae2, dit2, _ = ckpt.load(out)
    for a, b in zip(dit.state_dict().values(), dit2.state_dict().values()):
        assert torch.equal(a, b)
    config = json.loads((out / "config.json").read_text())
    config["dit"]["mystery"] = 1
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unknown DiT config keys"):
        ckpt.load(out)
    pickle_dir = tmp_path / "pickled"
    pickle_dir.mkdir()
    (pickle_dir / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    torch.save(dit.state_dict(), pickle_dir / "model.pt")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        ckpt.load(pickle_dir)
    with pytest.raises(FileNotFoundError):
        Engine.load(tmp_path / "nowhere")


def test_guidance_interval_round_trips_and_changes_sampling(tiny_checkpoint, tmp_path):
    vae, dit, card = ckpt.load(tiny_checkpoint)
    out = ckpt.save(tmp_path / "limited", vae, dit, replace(card, guidance_interval=(0.2, 0.8)))
    engine = Engine.load(out, device="cpu")
    assert engine.card.guidance_interval == (0.2, 0.8)
    options = dict(seconds=0.5, draft=True, seed=3, steps=6, guidance=5.0)
    [limited] = engine.generate("a red ball", **options)
    [full] = Engine.load(tiny_checkpoint, device="cpu").generate("a red ball", **options)
    assert limited.frames.shape == full.frames.shape and not np.array_equal(limited.frames, full.frames)
    config = json.loads((out / "config.json").read_text())
    config["card"]["guidance_interval"] = [0.9, 0.1]
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="guidance_interval"):
        ckpt.read_config(out)


def test_min_shift_round_trips_and_floors_small_grids(tiny_checkpoint, tmp_path):
    vae, dit, card = ckpt.load(tiny_checkpoint)
    out = ckpt.save(tmp_path / "floored", vae, dit, replace(card, min_shift=2.5))
    floored, plain = Engine.load(out, device="cpu"), Engine.load(tiny_checkpoint, device="cpu")
    small = (vae.cfg.latent_channels, 1, 2, 2)                 # far fewer tokens than the base
    assert plain.shift_for(small) == 1.0 and floored.shift_for(small) == 2.5
    options = dict(seconds=0.5, draft=True, seed=3, steps=6)
    [a], [b] = floored.generate("a red ball", **options), plain.generate("a red ball", **options)
    assert a.frames.shape == b.frames.shape and not np.array_equal(a.frames, b.frames)
    config = json.loads((out / "config.json").read_text())
    config["card"]["min_shift"] = 0.5
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="min_shift"):
        ckpt.read_config(out)


def test_grid_shift_round_trips_and_changes_the_sample(tiny_checkpoint, tmp_path):
    from engine.dit import DiT
    vae, dit, card = ckpt.load(tiny_checkpoint)
    torch.manual_seed(0)
    dit = DiT(replace(dit.cfg, patch_h=2, patch_w=2))   # the tiny recipe's 1x1 patch has no grid to move
    with torch.no_grad():
        dit.final.weight.normal_(std=0.02)
        for block in dit.blocks:
            block.ada[1].weight.normal_(std=0.02)
    shifted = Engine.load(ckpt.save(tmp_path / "shifted", vae, dit, replace(card, grid_shift=1)), device="cpu")
    plain = Engine.load(ckpt.save(tmp_path / "plain", vae, dit, card), device="cpu")
    assert shifted.card.grid_shift == 1 and plain.card.grid_shift == 0
    options = dict(seconds=0.5, draft=True, seed=3, steps=4)
    [a], [b] = shifted.generate("a red ball", **options), plain.generate("a red ball", **options)
    [again] = shifted.generate("a red ball", **options)     # the alternation restarts every run
    assert a.frames.shape == b.frames.shape and not np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.frames, again.frames)
    config = json.loads((tmp_path / "shifted" / "config.json").read_text())
    # below zero; not smaller than the patch; a flow time outside (0, 1]; decode phases that are
    # not a whole number or do not divide the VAE's temporal factor
    for key, bad in (("grid_shift", -2), ("grid_shift", 2), ("grid_shift_below", 0.0), ("grid_shift_below", 1.5),
                     ("decode_phases", 0), ("decode_phases", 1.5), ("decode_phases", 3)):
        broken = {**config, "card": {**config["card"], key: bad}}
        (tmp_path / "shifted" / "config.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=key):
            ckpt.read_config(tmp_path / "shifted")


def test_card_decode_phases_reach_the_decoder(tiny_checkpoint, tmp_path):
    vae, dit, card = ckpt.load(tiny_checkpoint)
    phased = Engine.load(ckpt.save(tmp_path / "phased", vae, dit, replace(card, decode_phases=2)), device="cpu")
    plain = Engine.load(tiny_checkpoint, device="cpu")
    options = dict(seconds=1.0, draft=True, seed=3, steps=2)
    [a], [b] = phased.generate("a red ball", **options), plain.generate("a red ball", **options)
    assert a.frames.shape == b.frames.shape and not np.array_equal(a.frames, b.frames)


def test_text_encoder_caches_prompts(text_encoder):
    before = text_encoder.encode_calls
    a = text_encoder.encode(["a green triangle rises slowly"])
    b = text_encoder.encode(["a green triangle rises slowly"])
    assert text_encoder.encode_calls == before + 1 and torch.equal(a.states, b.states)
    assert a.states.shape[-1] == 384 and a.valid.all() and a.pooled.shape == (1, 384)
    # encode_each: one network call for the uncached captions, each back unpadded and as cached
    before = text_encoder.encode_calls
    each = text_encoder.encode_each(["a red box", "a blue star moves left over the ocean",
                                     "a green triangle rises slowly"])
    assert text_encoder.encode_calls == before + 1
    assert [e.states.shape[1] for e in each] == [int(e.valid.sum()) for e in each]
    assert each[0].states.shape[1] < each[1].states.shape[1] and torch.equal(each[2].states, a.states)


def test_text_encoder_gives_the_hidden_states_a_dit_reads(text_encoder, tiny_engine):
    """Layers are concatenated per token in the order named; layer 6 alone is MiniLM's last
    layer, as every DiT before text_layers read it; the engine encodes with its DiT's layers."""
    from engine.text import TextEncoder
    caption = ["a red ball moves to the left"]
    last = text_encoder.encode(caption)
    both = TextEncoder(layers=(6, 0)).encode(caption)
    assert both.states.shape[-1] == 768 and both.pooled.shape == (1, 768)
    torch.testing.assert_close(both.states[..., :384], last.states)
    # the token embeddings keep "left" and "right" apart far more than the last layer does
    right = TextEncoder(layers=(6, 0)).encode(["a red ball moves to the right"])
    def moved(half):  # the largest change of a token's state, relative to its norm
        a, b = both.states[0, :, half], right.states[0, :, half]               # (M, 384)
        return float(((b - a).norm(dim=-1) / a.norm(dim=-1)).max())
    assert moved(slice(384, None)) > 1.5 * moved(slice(None, 384)) > 0
    assert tiny_engine.text.layers == tiny_engine.dit.cfg.text_layers == (6, 0)
    with pytest.raises(ValueError, match="hidden states 0"):
        TextEncoder(layers=(7,)).encode(caption)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_generate_writes_browser_mp4_matching_its_json(tiny_checkpoint, tmp_path):
    out = tmp_path / "clip.mp4"
    proc = _cli("generate", "--prompt", "a red ball moves right over green grass", "--seconds", "1",
                "--aspect", "16:9", "--seed", "5", "--out", str(out), "--json",
                "--checkpoint", str(tiny_checkpoint), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)  # exactly one JSON object
    for key in ("path", "seed", "width", "height", "frames", "fps", "seconds", "prompt", "caption",
                "unknown_words", "checkpoint", "timings"):
        assert key in record
    info = probe_video(out)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.num_frames) == (record["width"], record["height"], record["frames"])
    assert abs(info.fps - record["fps"]) < 1e-6 and record["seed"] == 5
    assert {"text_s", "sample_s", "decode_s", "write_s"} <= set(record["timings"])


def test_cli_image_and_errors(tiny_checkpoint, tmp_path):
    out = tmp_path / "still.png"
    proc = _cli("image", "--prompt", "a purple box near a zebra", "--aspect", "9:16", "--out", str(out),
                "--json", "--checkpoint", str(tiny_checkpoint), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert out.is_file() and record["frames"] == 1 and "zebra" in record["unknown_words"]
    bad = _cli("generate", "--prompt", "a ball", "--width", "63", "--height", "36", "--out",
               str(tmp_path / "bad.mp4"), "--json", "--checkpoint", str(tiny_checkpoint))
    assert bad.returncode == 2 and "multiple of" in json.loads(bad.stdout)["error"]
    assert not (tmp_path / "bad.mp4").exists()
    (tmp_path / "taken.mp4").mkdir()  # refused before any sampling, as one JSON error
    folder = _cli("generate", "--prompt", "a ball", "--out", str(tmp_path / "taken.mp4"), "--json",
                  "--checkpoint", str(tiny_checkpoint))
    assert folder.returncode == 2 and "is a folder" in json.loads(folder.stdout)["error"]


def test_cli_edits_end_to_end(tiny_checkpoint, tmp_path):
    from engine import io
    from engine.world import render, upsample
    up = upsample("a yellow star moves left in the desert", seed=0, duration_s=1.0)
    source = tmp_path / "source.mp4"
    io.write_video(render(up.scene, 80, 45, 13, 12.0), source, fps=12.0)  # off-grid size on purpose
    still = tmp_path / "still.png"
    io.write_image(render(up.scene, 70, 70, 1, 12.0)[0], still)
    common = ["--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--json", "--seed", "1"]
    runs = {
        "animate": ["--image", str(still), "--seconds", "0.5"],
        "extend": ["--video", str(source), "--direction", "backward", "--seconds", "0.5"],
        "loop": ["--video", str(source), "--seconds", "0.5"],
        "interpolate": ["--first", str(source), "--second", str(source), "--seconds", "0.5"],
        "restyle": ["--video", str(source), "--strength", "0.5"],
    }
    for command, extra in runs.items():
        out = tmp_path / f"{command}.mp4"
        proc = _cli(command, "--prompt", "a blue ball", "--out", str(out), *extra, *common)
        assert proc.returncode == 0, (command, proc.stderr)
        record = json.loads(proc.stdout)
        info = probe_video(out)
        assert record["operation"] == command and info.num_frames == record["frames"] > 1
        assert (info.width, info.height) == (record["width"], record["height"]) and record["inputs"]
        if command == "extend":     # the star moves: its motion is read and carried on
            assert record["inputs"]["continuation"]["moves"], record["inputs"]
    proc = _cli("extend", "--prompt", "a blue ball", "--out", str(tmp_path / "plain.mp4"),
                *runs["extend"], "--no-continue", *common)
    assert proc.returncode == 0 and json.loads(proc.stdout)["inputs"]["continuation"] is None
    ball = tmp_path / "ball.mp4"          # restyle paints a colour the prompt names on first
    io.write_video(render(upsample("a large red ball moves left over green grass", seed=0, duration_s=1.0).scene,
                          80, 45, 13, 12.0), ball, fps=12.0)
    for flags, painted in (([], [["red", "blue"]]), (["--no-recolour"], None)):
        proc = _cli("restyle", "--prompt", "a large blue ball moves left over green grass", "--video", str(ball),
                    "--strength", "0.5", "--out", str(tmp_path / "blue.mp4"), *flags, *common)
        assert proc.returncode == 0, proc.stderr
        note = json.loads(proc.stdout)["inputs"].get("recolour")
        assert (note and note["recoloured"]) == painted
    bad = _cli("extend", "--prompt", "x", "--video", str(tmp_path / "missing.mp4"), "--out",
               str(tmp_path / "y.mp4"), *common)
    assert bad.returncode == 2 and "error" in json.loads(bad.stdout)
    before = source.read_bytes()
    same = _cli("extend", "--prompt", "x", "--video", str(source), "--out", str(source), *common)
    assert same.returncode == 2 and "input file" in json.loads(same.stdout)["error"]
    assert source.read_bytes() == before
    seed = _cli("generate", "--prompt", "x", "--out", str(tmp_path / "z.mp4"), *common, "--seed", "-5")
    assert seed.returncode == 2 and "seed must be" in json.loads(seed.stdout)["error"]
    inf = _cli("extend", "--prompt", "x", "--video", str(source), "--seconds", "inf", "--out",
               str(tmp_path / "inf.mp4"), *common)      # refused by the parser, still as one JSON object
    assert inf.returncode == 2 and "finite" in json.loads(inf.stdout)["error"]
    image = _cli("restyle", "--prompt", "x", "--video", str(still), "--strength", "0.5", "--out",
                 str(tmp_path / "r.mp4"), *common)      # before any sampling, not after
    assert image.returncode == 2 and "single image" in json.loads(image.stdout)["error"]


def test_cli_edit_keeps_the_inputs_sound_in_sync(tiny_checkpoint, tmp_path):
    """A backward extension puts the clip's sound after the new (silent) frames, where its own
    frames are; the record says so."""
    from engine import io
    from engine.world import render, upsample
    from sound import loudness, with_tone
    plain = tmp_path / "plain.mp4"
    io.write_video(render(upsample("a red ball", seed=0, duration_s=1.0).scene, 64, 36, 13, 12.0), plain, fps=12.0)
    voiced = with_tone(plain, tmp_path / "voiced.mp4", 13 / 12)
    out = tmp_path / "longer.mp4"
    proc = _cli("extend", "--video", str(voiced), "--direction", "backward", "--seconds", "1", "--prompt",
                "a red ball", "--out", str(out), "--json", "--checkpoint", str(tiny_checkpoint), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    new_s = (record["frames"] - record["inputs"]["video"]["to_frames"]) / record["fps"]
    assert record["inputs"]["video"]["audio"].startswith(f"kept, from {new_s:.3f} s")
    sound = loudness(out)
    loud = np.flatnonzero(sound > 1000) / 8000                  # seconds where the tone plays
    assert abs(loud[0] - new_s) < 0.06 and len(sound) / 8000 == pytest.approx(record["seconds"], abs=0.05)


def test_cli_draft_then_render_keeps_the_draft_request(tiny_checkpoint, tmp_path):
    common = ["--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--json"]
    draft = _cli("generate", "--prompt", "a green box moves up", "--draft", "--seconds", "1",
                 "--aspect", "9:16", "--seed", "9", "--out", str(tmp_path / "draft.mp4"), *common)
    assert draft.returncode == 0, draft.stderr
    (tmp_path / "draft.json").write_text(draft.stdout)
    d = json.loads(draft.stdout)
    full = _cli("render", "--draft-json", str(tmp_path / "draft.json"), "--out",
                str(tmp_path / "full.mp4"), *common)
    assert full.returncode == 0, full.stderr
    r = json.loads(full.stdout)
    assert r["operation"] == "render" and r["seed"] == 9 and r["prompt"] == d["prompt"]
    assert r["height"] > d["height"] and r["height"] > r["width"] and r["frames"] == d["frames"]
    over = _cli("render", "--draft-json", str(tmp_path / "draft.json"), "--out", d["path"], *common)
    assert over.returncode == 2 and "input file" in json.loads(over.stdout)["error"]
    assert Path(d["path"]).is_absolute()            # a record can be used from any folder
    moved = tmp_path / "elsewhere"                  # and an older record's relative path is found
    moved.mkdir()                                   # beside the record
    (tmp_path / "draft.mp4").rename(moved / "draft.mp4")
    (moved / "draft.json").write_text(json.dumps({**d, "path": "draft.mp4"}))
    again = _cli("render", "--draft-json", str(moved / "draft.json"), "--out", str(tmp_path / "f2.mp4"), *common)
    assert again.returncode == 0, again.stderr


def test_half_precision_checkpoint_loads_back_close(tiny_checkpoint, tmp_path):
    vae, dit, card = ckpt.load(tiny_checkpoint)
    out = ckpt.save(tmp_path / "half", vae, dit, card, half=True)
    vae2, dit2, _ = ckpt.load(out)
    for a, b in zip(dit.state_dict().values(), dit2.state_dict().values()):
        assert b.dtype == torch.float32 and torch.allclose(a, b, atol=1e-3, rtol=1e-3)
    assert (out / "model.safetensors").stat().st_size < 0.6 * (tiny_checkpoint / "model.safetensors").stat().st_size


@pytest.mark.skipif(not (ckpt.DEFAULT_CHECKPOINT / "config.json").is_file(), reason="no shipped checkpoint")
def test_shipped_checkpoint_is_small_complete_and_samples():
    from safetensors import safe_open
    files = sorted(p.name for p in ckpt.DEFAULT_CHECKPOINT.iterdir())
    assert files == ["config.json", "model.safetensors"]
    assert sum(p.stat().st_size for p in ckpt.DEFAULT_CHECKPOINT.iterdir()) <= 60 * 2**20
    with safe_open(str(ckpt.DEFAULT_CHECKPOINT / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}    # half the git weight
    engine = Engine.load(device="cpu")
    assert engine.card.trained_on and engine.vae.cfg.latent_channels == engine.dit.cfg.in_channels
    [clip] = engine.generate("a red ball rolls right", seconds=1.0, seed=0, draft=True, steps=1)
    assert clip.frames.dtype == np.uint8 and clip.frames.shape[0] > 1
    assert max(clip.frames.shape[1:3]) == engine.card.draft_long_side
