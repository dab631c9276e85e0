import numpy as np
import pytest
import torch

from engine.dit import DIT_PRESETS, DiT, DiTConfig, dit_config, rope_split, widen_text_inputs


def tiny_dit(**kw):
    torch.manual_seed(0)
    return DiT(dit_config("tiny", in_channels=4, **kw))


def _text(B, M=5):
    return torch.randn(B, M, 384), torch.ones(B, M, dtype=torch.bool), torch.randn(B, 384)


def test_zero_init_predicts_zero_and_output_shape():
    dit = tiny_dit()
    x = torch.randn(2, 4, 3, 6, 8)
    states, valid, pooled = _text(2)
    v = dit(x, torch.rand(2, 3), states, valid, pooled, torch.full((2,), 12.0))
    assert v.shape == x.shape and torch.count_nonzero(v) == 0  # adaLN-Zero + zero final layer


def test_presets_build_configs():
    for name in DIT_PRESETS:
        cfg = dit_config(name)
        assert cfg.dim % cfg.heads == 0 and sum(rope_split(cfg.head_dim)) == cfg.head_dim
    with pytest.raises(ValueError, match="unknown DiT config keys"):
        DiTConfig.from_dict({"dim": 64, "bogus": 1})


@pytest.mark.parametrize("extra", [{}, {"abs_pos": True}, {"abs_pos": True, "refine": 3}])
def test_packed_forward_matches_separate_forwards(extra):
    """Three clips packed in one row with masks (two of one grid, which the convolutional head
    runs as one batch) give the same velocity as three separate calls."""
    from engine.patches import pack, patchify
    dit = tiny_dit(**extra)
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    patch = dit.cfg.patch
    clips = [torch.randn(1, 4, 2, 4, 6), torch.randn(1, 4, 1, 6, 4), torch.randn(1, 4, 1, 6, 4)]
    ts = [torch.tensor([[0.0, 0.7]]), torch.tensor([[0.3]]), torch.tensor([[0.9]])]
    texts = [_text(1, 3), _text(1, 6), _text(1, 2)]
    fps = [12.0, 8.0, 16.0]
    separate = [dit(c, t, s, v, p_, torch.tensor([f]))
                for c, t, (s, v, p_), f in zip(clips, ts, texts, fps)]
    seqs = [patchify(c, patch)[0] for c in clips]
    grids = [(2, 2, 3), (1, 3, 2), (1, 3, 2)]
    packed = pack(seqs, grids, max_len=26)
    assert packed.tokens.shape[0] == 1
    token_row = torch.zeros(1, 26, dtype=torch.long)
    token_row[0, :12] = torch.arange(2).repeat_interleave(6)
    token_row[0, 12:18] = 2
    token_row[0, 18:24] = 3
    row_t = torch.tensor([[0.0, 0.7, 0.3, 0.9]])
    row_fps = torch.tensor([[12.0, 12.0, 8.0, 16.0]])
    row_pooled = torch.stack([texts[0][2][0], texts[0][2][0], texts[1][2][0], texts[2][2][0]])[None]
    text = torch.cat([t[0] for t in texts], 1)
    text_valid = torch.ones(1, 11, dtype=torch.bool)
    text_segment = torch.tensor([[0] * 3 + [1] * 6 + [2] * 2])
    out = dit.forward_tokens(packed.tokens, packed.positions, row_t, row_fps, row_pooled, token_row,
                             text, text_valid, packed.segment, text_segment, packed.valid,
                             clips=[(0, 0, 12, 2, 2, 3), (0, 12, 6, 1, 3, 2), (0, 18, 6, 1, 3, 2)])
    for sep, span in zip(separate, (slice(0, 12), slice(12, 18), slice(18, 24))):
        torch.testing.assert_close(out[0, span], patchify(sep, patch)[0], atol=1e-5, rtol=1e-4)


def test_convolutional_head_grows_a_dit_without_changing_it():
    """A DiT given the head starts as the DiT it grew from (its last convolution is zero); once
    trained, the head reaches across token boundaries, as far as its three 3x3x3 kernels."""
    from engine.patches import patchify, unpatchify
    old = tiny_dit()
    with torch.no_grad():
        for p in old.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    new = tiny_dit(refine=3)
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("refine.") for k in missing) and not unexpected
    x = torch.randn(1, 4, 2, 6, 10)
    args = (torch.tensor([[0.6, 0.6]]), *_text(1), torch.tensor([12.0]))
    torch.testing.assert_close(new(x, *args), old(x, *args))
    with torch.no_grad():
        new.refine.out.weight.normal_(0, 0.5)
        bumped = x.clone()
        bumped[0, :, 1, 3, 8] += 1.0                     # one latent cell
        grid, patch = (2, 3, 5), new.cfg.patch           # tokens of 2x2 cells
        h = torch.zeros(1, 30, new.cfg.dim)
        head = new.refine(h, patchify(bumped, patch), grid) - new.refine(h, patchify(x, patch), grid)
    head = unpatchify(head, grid, 4, patch)              # (1, C, T, h, w) latent cells
    assert head[..., 5:].abs().amax() > 0 and head[..., :5].abs().amax() == 0


def test_abs_pos_grows_a_dit_without_changing_it():
    """A DiT given fractional positions starts as the DiT it grew from (zero-initialised), and
    once trained, the same content at another place in the frame is told apart."""
    old = tiny_dit()
    with torch.no_grad():
        for p in old.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    new = tiny_dit(abs_pos=True)
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert sorted(missing) == ["pos_embed.bias", "pos_embed.weight"] and not unexpected
    x = torch.randn(1, 4, 2, 6, 8)
    args = (torch.tensor([[0.0, 0.6]]), *_text(1), torch.tensor([12.0]))
    torch.testing.assert_close(new(x, *args), old(x, *args))
    with torch.no_grad():
        new.pos_embed.weight.normal_(0, 0.5)
    flat = torch.zeros(1, 4, 2, 6, 8)   # the same content everywhere
    v = new(flat, *args)
    top, bottom = v[..., :2, :].abs().mean(), v[..., -2:, :].abs().mean()
    assert not torch.allclose(new(flat, *args), old(flat, *args)) and not torch.isclose(top, bottom)


def test_text_layers_are_checked_and_survive_json():
    cfg = DiTConfig(text_layers=[6, 0])                     # as config.json gives it back
    assert cfg == DiTConfig(text_layers=(6, 0)) and cfg.text_width == 768
    assert DiTConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ((), (6, 6), (-1,), (True,)):
        with pytest.raises(ValueError, match="text_layers"):
            DiTConfig(text_layers=bad)


def test_wider_text_inputs_start_as_the_dit_they_grew_from():
    """A DiT given MiniLM's token embeddings next to its last layer predicts exactly as before
    until trained, then reads them; a DiT never drops a layer it read; the wrong width is loud."""
    old = tiny_dit()
    with torch.no_grad():
        for p in old.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    new = tiny_dit(text_layers=(6, 0))
    new.load_state_dict(widen_text_inputs(old.state_dict(), old.cfg, new.cfg))
    x, t, fps = torch.randn(1, 4, 2, 6, 8), torch.tensor([[0.0, 0.6]]), torch.tensor([12.0])
    states, valid, pooled = _text(1)
    lexical = torch.randn(1, 5, 384)
    wide = (torch.cat([states, lexical], -1), valid, torch.cat([pooled, lexical.mean(1)], -1))
    torch.testing.assert_close(new(x, t, *wide, fps), old(x, t, states, valid, pooled, fps))
    with torch.no_grad():
        new.blocks[0].cross.kv.weight[:, 384:].normal_(0, 0.5)
    other = (torch.cat([states, torch.randn(1, 5, 384)], -1), *wide[1:])
    assert not torch.allclose(new(x, t, *wide, fps), new(x, t, *other, fps))
    with pytest.raises(ValueError, match="dropped"):
        widen_text_inputs(new.state_dict(), new.cfg, old.cfg)
    with pytest.raises(ValueError, match="768"):
        new(x, t, states, valid, pooled, fps)


def test_tiny_dit_overfits_one_batch(text_encoder):
    from engine.train import dit_loss, make_dit_batch
    dit = tiny_dit()
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(4, 2, 4, 4, generator=g), torch.randn(4, 1, 4, 6, generator=g)]
    texts = [text_encoder.encode(["a red ball moves right"]), text_encoder.encode(["a blue box"])]
    masks = [np.array([1.0, 0.0], np.float32), np.zeros(1, np.float32)]
    opt = torch.optim.Adam(dit.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        batch = make_dit_batch(latents, texts, [12.0, 12.0], masks, dit.cfg.patch, 64, 32,
                               torch.Generator().manual_seed(step % 2))  # the same two noisings
        loss = dit_loss(dit, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    # clip 0 has 2x2 tokens per latent frame: its known first frame carries no loss, the next does
    assert batch.weight[0, :4].sum() == 0 and batch.weight[0, 4:8].all()


def test_object_tokens_weigh_more_only_where_noisy(text_encoder):
    from engine.train import make_dit_batch
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(4, 2, 4, 4, generator=g)]                    # 2 latent frames of 2x2 tokens
    fg = torch.zeros(2, 2, 2)
    fg[0, 0, 1] = fg[1, 1, 0] = 1                                       # one object token per frame
    batch = make_dit_batch(latents, [text_encoder.encode(["a red ball"])], [12.0],
                           [np.array([1.0, 0.0], np.float32)], tiny_dit().cfg.patch, 16, 8,
                           torch.Generator().manual_seed(0), [fg], object_weight=4.0)
    # frame 0 is known: no loss even on its object token; frame 1: 1 on background, 5 on the object
    assert batch.weight[0, :4].tolist() == [0, 0, 0, 0]
    assert batch.weight[0, 4:8].tolist() == [1, 1, 5, 1]
    assert batch.foreground[0, :8].tolist() == [0, 1, 0, 0, 0, 0, 1, 0]
    # above object_max_t the noisy input does not show where objects are: no extra weight there
    gated = make_dit_batch(latents, [text_encoder.encode(["a red ball"])], [12.0],
                           [np.array([1.0, 0.0], np.float32)], tiny_dit().cfg.patch, 16, 8,
                           torch.Generator().manual_seed(0), [fg], object_weight=4.0, object_max_t=0.0)
    assert gated.weight[0, 4:8].tolist() == [1, 1, 1, 1]
    # ... unless a frame is given: its own gate (object_max_t_given) keeps the object's weight
    given = make_dit_batch(latents, [text_encoder.encode(["a red ball"])], [12.0],
                           [np.array([1.0, 0.0], np.float32)], tiny_dit().cfg.patch, 16, 8,
                           torch.Generator().manual_seed(0), [fg], object_weight=4.0, object_max_t=0.0,
                           object_max_t_given=1.01)
    assert given.weight[0, 4:8].tolist() == [1, 1, 5, 1]
    # a clip with no clean frame (restyle's partial mask) keeps object_max_t's gate
    partial = make_dit_batch(latents, [text_encoder.encode(["a red ball"])], [12.0],
                             [np.array([0.5, 0.5], np.float32)], tiny_dit().cfg.patch, 16, 8,
                             torch.Generator().manual_seed(0), [fg], object_weight=4.0, object_max_t=0.0,
                             object_max_t_given=1.01)
    assert partial.weight[0, :8].tolist() == [1] * 8


def test_a_training_shift_floor_draws_every_clip_at_a_higher_flow_time(text_encoder):
    """time_shift_min floors the shift of small grids (whose sqrt(tokens / base) is below it),
    as the card's min_shift floors the sampler's; the same draws, each moved towards t = 1."""
    from engine.train import make_dit_batch
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(4, 2, 4, 4, generator=g) for _ in range(16)]  # 8 tokens: shift 1 at base 8
    texts = [text_encoder.encode(["a red ball"])] * 16
    masks = [np.zeros(2, np.float32)] * 16
    def times(floor):
        b = make_dit_batch(latents, texts, [12.0] * 16, masks, tiny_dit().cfg.patch, 16, 8,
                           torch.Generator().manual_seed(0), min_shift=floor)
        return b.row_t[b.row_t > 0]
    plain, floored = times(1.0), times(3.0)
    assert len(plain) == len(floored) == 32
    assert (floored > plain).all() and floored.median() > 0.5 + (plain.median() - 0.5).clamp(min=0)


def test_token_foreground_follows_the_causal_frame_groups():
    from engine.train import token_foreground
    masks = np.zeros((9, 2, 8, 12), bool)                               # 9 frames: latents {0}, {1-4}, {5-8}
    masks[0, 0, 5, 1] = True                                            # frame 0, cell (1, 0)
    masks[3, 1, 2, 9] = True                                            # frame 3 -> latent 1, cell (0, 2)
    fg = token_foreground(masks, cell=4, temporal_factor=4)
    assert fg.shape == (3, 2, 3)
    assert fg.nonzero().tolist() == [[0, 1, 0], [1, 0, 2]]
    with pytest.raises(ValueError, match="tile"):
        token_foreground(masks[:8], cell=4, temporal_factor=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_are_noised_on_the_latents_device_and_reproducibly(text_encoder):
    from engine.train import make_dit_batch
    latents = [torch.randn(4, 2, 4, 4, device="cuda") for _ in range(3)]
    texts = [text_encoder.encode(["a red ball"])] * 3
    masks = [np.zeros(2, np.float32)] * 3
    a, b = (make_dit_batch(latents, texts, [12.0] * 3, masks, tiny_dit().cfg.patch, 64, 8,
                           torch.Generator().manual_seed(7)) for _ in range(2))
    assert a.tokens.device.type == "cuda" and a.target.device.type == "cuda"
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.row_t, b.row_t)


def test_dit_cost_bench_parses_shapes_and_refuses_bad_ones():
    from dit_cost import parse_shape
    assert parse_shape("256x8/4") == dict(dim=256, depth=8, heads=4, patch_h=4, patch_w=4)
    for bad in ("256x8", "250x8/4", "256x0/4", "wide"):
        with pytest.raises(SystemExit):
            parse_shape(bad)
