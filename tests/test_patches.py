import pytest
import torch

from engine.patches import PatchSize, frame_values_to_tokens, pack, patchify, positions, unpack, unpatchify


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
