import pytest
import torch

from engine.vae import VideoVAE, num_latent_frames, num_pixel_frames, phase_shifted, vae_config


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VideoVAE(vae_config("tiny", channels=(8, 16, 16), temporal_down=2)).eval()


def test_shapes_and_frame_counts(vae):
    video = torch.rand(2, 3, 9, 16, 24) * 2 - 1
    mean, logvar = vae.encode_moments(video)
    assert mean.shape == (2, 4, 3, 4, 6) and logvar.shape == mean.shape
    assert vae.decode_raw(mean).shape == video.shape
    assert num_latent_frames(9, 4) == 3 and num_pixel_frames(3, 4) == 9
    with pytest.raises(ValueError, match="1 \\+ k\\*4"):
        num_latent_frames(8, 4)
    with pytest.raises(ValueError, match="multiple of 4"):
        vae.encode_moments(torch.zeros(1, 3, 1, 10, 16))


def test_image_encodes_like_first_frame_of_video(vae):
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    with torch.no_grad():
        image_latent = vae.encode(video[:, :, :1])
        video_latent = vae.encode(video)
    assert image_latent.shape[2] == 1
    torch.testing.assert_close(image_latent[:, :, 0], video_latent[:, :, 0], atol=1e-5, rtol=1e-5)


def test_later_frames_never_change_earlier_latents(vae):
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    changed = video.clone()
    changed[:, :, 5:] = -changed[:, :, 5:]
    with torch.no_grad():
        a, b = vae.encode(video), vae.encode(changed)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a[:, :, 2], b[:, :, 2])


def test_chunked_coding_equals_one_shot(vae):
    video = torch.rand(1, 3, 17, 16, 16) * 2 - 1
    with torch.no_grad():
        z_full = vae.encode(video, chunk_frames=None)
        z_chunk = vae.encode(video, chunk_frames=4)
        torch.testing.assert_close(z_chunk, z_full, atol=1e-5, rtol=1e-5)
        x_full = vae.decode(z_full, chunk_latents=None)
        for chunk in (1, 2):
            torch.testing.assert_close(vae.decode(z_full, chunk_latents=chunk), x_full, atol=1e-5, rtol=1e-5)


def test_tiny_vae_overfits_one_batch():
    from engine.train import vae_loss
    torch.manual_seed(0)
    vae = VideoVAE(vae_config("tiny"))
    t = torch.linspace(-1, 1, 16)
    video = torch.stack([torch.sin(3 * t)[None, :] * torch.cos(2 * t)[:, None] * torch.ones(3, 5, 1, 1)
                         * torch.tensor([1.0, -0.5, 0.2])[:, None, None, None]])  # (1, 3, 5, 16, 16)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(150):
        losses = vae_loss(vae, video, kl_weight=1e-6, generator=g)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        first = first if first is not None else float(losses["l1"])
    assert float(losses["l1"]) < 0.25 * first and float(losses["l1"]) < 0.05


def test_lookahead_decoder_grows_unchanged_reaches_one_group_back_and_streams():
    from engine.vae import grow_lookahead
    torch.manual_seed(0)
    causal = VideoVAE(vae_config("tiny", channels=(8, 16, 16), temporal_down=2)).eval()
    z = torch.randn(1, 4, 5, 4, 6)                                      # 5 latents: 17 frames
    ahead = grow_lookahead(causal, 1).eval()
    with torch.no_grad():
        torch.testing.assert_close(ahead.decode_raw(z), causal.decode_raw(z), atol=1e-5, rtol=1e-5)
        torch.nn.init.normal_(ahead.decoder.conv_in.conv.weight, std=0.2)   # as if trained
        x = ahead.decode_raw(z)
        for chunk in (2, 3):
            torch.testing.assert_close(ahead.decode_raw(z, chunk_latents=chunk), x, atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="look-ahead"):
            ahead.decode_raw(z, chunk_latents=1)
        assert ahead.decode_raw(z[:, :, :1]).shape[2] == 1             # an image still decodes
        moved = z.clone()
        moved[:, :, 3] += 1.0                                           # latent 3: frames 9..12
        changed = (ahead.decode_raw(moved) - x).abs().amax(dim=(0, 1, 3, 4)) > 1e-6
    # one group earlier (frames 5..8, latent 2's) sees it; nothing before that does
    assert not changed[:5].any() and changed[5:].all()


def test_phase_shifted_copies_move_latent_frames_back_in_time():
    z = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(2, 3, 4, 2, 2).clone()   # frame i holds i
    copies, offsets = phase_shifted(z, 2, 4)
    assert copies.shape == (4, 3, 4, 2, 2) and offsets == [0, 2]
    torch.testing.assert_close(copies[:2], z)                        # copy 0 is the latent itself
    torch.testing.assert_close(copies[2:, 0, :, 0, 0], torch.tensor([[0.0, 0.5, 1.5, 2.5]] * 2))
    with pytest.raises(ValueError, match="divide"):
        phase_shifted(z, 3, 4)


def test_phased_decode_averages_aligned_decodes(vae):
    z = torch.randn(2, 4, 4, 4, 6)
    with torch.no_grad():
        plain = vae.decode(z)
        moved = z.clone()
        moved[:, :, 1:] = 0.5 * (z[:, :, 1:] + z[:, :, :-1])
        later = vae.decode(moved)                    # shows pixel frame j at j + 2
        phased = vae.decode(z, phases=2)
        image = torch.randn(1, 4, 1, 4, 6)
        torch.testing.assert_close(vae.decode(image, phases=2), vae.decode(image))
    assert phased.shape == plain.shape
    torch.testing.assert_close(phased[:, :, :-2], 0.5 * (plain[:, :, :-2] + later[:, :, 2:]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(phased[:, :, -2:], plain[:, :, -2:])   # the last two: one decode only
