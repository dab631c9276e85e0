"""Checkpoints: `model.safetensors` (VAE under `vae.`, DiT under `dit.`) beside `config.json`.

Weights load through safetensors only: a pickle is never opened. Unknown config keys are refused,
and older configs are brought forward in one named function, `upgrade_config`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.configs import check_keys
from engine.dit import DiT, DiTConfig
from engine.io import atomic_path, write_json_atomic
from engine.patches import check_grid_offset
from engine.sampler import guidance_interval, min_shift_checked
from engine.vae import VAEConfig, VideoVAE, check_decode_phases

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "assets" / "default"


@dataclass(frozen=True)
class ModelCard:
    """How the model is meant to be sampled, and where it came from."""
    name: str = "untitled"
    fps: float = 12.0              # the frame rate clips are made at unless asked otherwise
    min_fps: float = 4.0           # the fps-conditioning range seen in training
    max_fps: float = 30.0
    full_long_side: int = 256      # full render: pixels on the long side
    draft_long_side: int = 128     # draft: the same request on a smaller grid
    max_long_side: int = 384
    max_frames: int = 97           # one sampler call; longer clips are made by extension
    steps: int = 24
    draft_steps: int = 8
    guidance: float = 4.0
    # flow times lo < t <= hi at which guidance applies; elsewhere one conditional forward
    guidance_interval: tuple[float, float] = (0.0, 1.0)
    # the sampler's time shift grows with the grid's tokens but never falls below this, so small
    # grids (drafts, stills) still spend their few steps where the layout forms
    min_shift: float = 1.0
    # every second model call at flow times t <= grid_shift_below sees the token grid moved by
    # grid_shift latent cells (0: never; patches.alternate_grid), so the DiT's token seams fade
    grid_shift: int = 0
    grid_shift_below: float = 1.0
    # decodes averaged, each with its latent frames moved k / decode_phases of a frame in time
    # (VideoVAE.decode), so a generated clip does not pulse in step with its latent groups
    decode_phases: int = 1
    # a camera move the prompt names (pan left/right, zoom in/out) is laid over a still the model
    # draws and known at this mask, so the model refines it from flow time 1 - camera_hold
    # (engine/camera.py); 0: the move is left to the DiT alone
    camera_hold: float = 0.0
    # the caption's moving objects are found in the clearest frame of the model's own clip
    # (under a camera move, in its still), moved along their paths and known at this mask, so the
    # model refines the scene from flow time 1 - motion_hold while their own cells are kept
    # (operations.OBJECT_HOLD; engine/motion.py); 0: motion is left to the DiT alone
    motion_hold: float = 0.0
    trained_on: str = ""           # hardware and wall time that produced the weights
    notes: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        check_keys(cls, d, "model card")
        d = dict(d)
        if "guidance_interval" in d:   # JSON gives a list
            d["guidance_interval"] = guidance_interval(d["guidance_interval"])
        if "min_shift" in d:
            d["min_shift"] = min_shift_checked(d["min_shift"])
        if "grid_shift" in d and not isinstance(d["grid_shift"], int):
            raise ValueError(f"grid_shift must be a whole number of latent cells, got {d['grid_shift']!r}")
        if "grid_shift_below" in d and not 0.0 < float(d["grid_shift_below"]) <= 1.0:
            raise ValueError(f"grid_shift_below must be a flow time in (0, 1], got {d['grid_shift_below']!r}")
        for key in ("camera_hold", "motion_hold"):
            if key in d and not 0.0 <= float(d[key]) < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {d[key]!r}")
        return cls(**d)


def upgrade_config(config: dict) -> dict:
    """Bring an older config.json to FORMAT_VERSION (the only place old formats are handled)."""
    version = config.get("format")
    if version == FORMAT_VERSION:
        return config
    raise ValueError(f"checkpoint format {version!r} is not supported (this engine reads {FORMAT_VERSION})")


def save(directory: str | Path, vae: VideoVAE, dit: DiT, card: ModelCard, half: bool = False) -> Path:
    """Write a checkpoint; half=True stores float weights as fp16 (shipped checkpoints: half the
    size in assets/ and in git history; they load back to fp32 on the CPU)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def prep(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().contiguous().cpu()
        return v.half() if half and v.is_floating_point() else v

    tensors = {f"vae.{k}": prep(v) for k, v in vae.state_dict().items()}
    tensors.update({f"dit.{k}": prep(v) for k, v in dit.state_dict().items()})
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(tensors, str(tmp))
    config = {"format": FORMAT_VERSION, "vae": vae.cfg.to_dict(), "dit": dit.cfg.to_dict(),
              "card": asdict(card)}
    write_json_atomic(config, directory / "config.json")
    return directory


def read_config(directory: str | Path) -> tuple[VAEConfig, DiTConfig, ModelCard]:
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint config at {path}")
    config = upgrade_config(json.loads(path.read_text()))
    unknown = set(config) - {"format", "vae", "dit", "card"}
    if unknown:
        raise ValueError(f"unknown checkpoint config sections: {sorted(unknown)}")
    vae_cfg, dit_cfg = VAEConfig.from_dict(config["vae"]), DiTConfig.from_dict(config["dit"])
    card = ModelCard.from_dict(config.get("card", {}))
    check_grid_offset(card.grid_shift, dit_cfg.patch)
    check_decode_phases(card.decode_phases, vae_cfg.temporal_factor)
    return vae_cfg, dit_cfg, card


def load(directory: str | Path, device="cpu") -> tuple[VideoVAE, DiT, ModelCard]:
    directory = Path(directory)
    vae_cfg, dit_cfg, card = read_config(directory)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"no weights at {weights} (only safetensors checkpoints are read)")
    state = load_file(str(weights), device="cpu")
    vae, dit = VideoVAE(vae_cfg), DiT(dit_cfg)
    for prefix, module in (("vae.", vae), ("dit.", dit)):
        part = {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)
    stray = [k for k in state if not k.startswith(("vae.", "dit."))]
    if stray:
        raise ValueError(f"unexpected tensors in {weights}: {stray[:5]}")
    return vae.to(device).eval(), dit.to(device).eval(), card
