import pytest
import torch

from engine.patches import (PatchSize, alternate_grid, frame_values_to_tokens, pack, patchify, positions, unpack,
                            unpatchify)


@pytest.mark.parametrize("shape,patch", [
    ((2, 4, 3, 8, 8), PatchSize(1, 2, 2)),     # square
    ((1, 16, 5, 8, 14), PatchSize(1, 2, 2)),   # 16:9-like
    ((1, 16, 5, 14, 8), PatchSize(1, 2, 2)),   # 9:16-like
    ((3, 4, 1, 6, 4), PatchSize(1, 1, 1)),     # an image
    ((1, 8, 4, 6, 9), PatchSize(2, 3, 3)),     # patches in time too
])
def test_patchify_round_trips_exactly(shape, patch):
    x = torch.randn(shape)
    tokens = patchify(x, patch)
    grid = (shape[2] // patch.t, shape[3] // patch.h, shape[4] // patch.w)
    assert tokens.shape == (shape[0], grid[0] * grid[1] * grid[2], shape[1] * patch.volume)
    assert torch.equal(unpatchify(tokens, grid, shape[1], patch), x)


def test_patch_token_holds_its_own_cells():
    x = torch.arange(1 * 1 * 2 * 4 * 4).float().reshape(1, 1, 2, 4, 4)
    tokens = patchify(x, PatchSize(1, 2, 2))
    # token (t=1, y=1, x=0) is raster index 1*4 + 1*2 + 0 = 6 and holds rows 2-3, cols 0-1 of frame 1
    assert tokens[0, 6].tolist() == x[0, 0, 1, 2:4, 0:2].flatten().tolist()
    assert positions((2, 2, 2))[6].tolist() == [1.0, 1.0, 0.0, 0.75, 0.25]
    # fractional columns name the same place in the frame at any grid size
    assert positions((1, 1, 1))[0, 3:].tolist() == positions((1, 3, 3))[4, 3:].tolist() == [0.5, 0.5]


def test_indivisible_grid_is_refused():
    with pytest.raises(ValueError, match="not divisible"):
        patchify(torch.randn(1, 4, 3, 7, 8), PatchSize(1, 2, 2))


def test_frame_values_to_tokens_follow_raster_order():
    vals = torch.tensor([[0.0, 0.5, 1.0]])
    out = frame_values_to_tokens(vals, (3, 2, 2), PatchSize(1, 1, 1))
    assert out.tolist() == [[0.0] * 4 + [0.5] * 4 + [1.0] * 4]


def test_pack_unpack_and_mask_keep_clips_apart():
    seqs = [torch.randn(n, 5) for n in (6, 3, 8, 2)]
    grids = [(1, 2, 3), (1, 1, 3), (2, 2, 2), (1, 1, 2)]
    packed = pack(seqs, grids, max_len=10)
    assert packed.tokens.shape[1] == 10
    for a, b in zip(unpack(packed.tokens, packed), seqs):
        assert torch.equal(a, b)
    mask = packed.attention_mask()[:, 0]
    for r, row in enumerate(packed.layout):
        for i, start, n, seg in row:
            block = mask[r, start:start + n]
            assert block[:, start:start + n].all()
            assert block.sum() == n * n  # nothing outside its own clip
    assert mask.any(-1).all()  # no row is fully masked (padding attends to itself)


def _token_means(latent, *args):
    """A model whose output shows its grid: each token's cells replaced by their mean."""
    patch = PatchSize(1, 4, 4)
    tokens = patchify(latent, patch)
    grid = (latent.shape[2], latent.shape[3] // 4, latent.shape[4] // 4)
    return unpatchify(tokens.view(*tokens.shape[:2], latent.shape[1], 16).mean(-1, keepdim=True)
                      .expand(-1, -1, -1, 16).reshape(tokens.shape), grid, latent.shape[1], patch)


def test_alternate_grid_moves_the_token_grid_on_every_second_call():
    patch = PatchSize(1, 4, 4)
    x = torch.randn(2, 3, 2, 8, 12)
    low, high = torch.full((2, 2), 0.5), torch.full((2, 2), 0.95)     # flow times (B, T)
    assert alternate_grid(_token_means, 0, patch) is _token_means
    seen = []
    model = alternate_grid(lambda z, t, tag: seen.append((tuple(z.shape), tag)) or _token_means(z, t),
                           2, patch, below=0.9)
    early, first, second, third = model(x, high, "e"), model(x, low, "a"), model(x, low, "b"), model(x, low, "c")
    assert first.shape == second.shape == x.shape
    # Above `below` nothing moves and the call is not counted; below it every second call sees
    # one token row and column more.
    assert seen == [((2, 3, 2, 8, 12), "e"), ((2, 3, 2, 8, 12), "a"), ((2, 3, 2, 12, 16), "b"),
                    ((2, 3, 2, 8, 12), "c")]
    assert torch.equal(first, _token_means(x)) and torch.equal(third, first) and torch.equal(early, first)
    # The moved call's blocks sit 2 cells down and right: constant on [2:6, 2:6], not on [0:4, 0:4].
    assert torch.allclose(second[..., 2:6, 2:6], second[..., 2:3, 2:3].expand_as(second[..., 2:6, 2:6]))
    assert not torch.allclose(second[..., 0:4, 0:4], second[..., 0:1, 0:1].expand_as(second[..., 0:4, 0:4]))
    # A model that knows no grid gives the same answer either way.
    same = alternate_grid(lambda z, t: z * 2, 2, patch)
    assert torch.equal(same(x, low), x * 2) and torch.equal(same(x, low), x * 2)


@pytest.mark.parametrize("offset", [-1, 4, 7])
def test_alternate_grid_refuses_offsets_outside_a_patch(offset):
    with pytest.raises(ValueError, match="grid offset"):
        alternate_grid(_token_means, offset, PatchSize(1, 4, 4))
