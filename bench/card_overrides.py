"""Model-card settings a bench run may override without writing a checkpoint: one flag per card
field, parsed and applied the same way in every bench (worldbench.py, operations.py)."""
from __future__ import annotations

import argparse
from dataclasses import replace

OVERRIDES = {  # card field -> its flag's argparse keywords
    "guidance": dict(type=float, metavar="G",
                     help="classifier-free guidance scale instead of the card's, where an operation "
                          "takes the card's"),
    "guidance_interval": dict(type=float, nargs=2, metavar=("LO", "HI"),
                              help="flow times lo < t <= hi where guidance applies, instead of the card's"),
    "grid_shift": dict(type=int, metavar="CELLS",
                       help="move the token grid by this many latent cells on every second model call "
                            "instead of the card's grid_shift (0: never)"),
    "grid_shift_below": dict(type=float, metavar="T",
                             help="... only at flow times t <= T (instead of the card's grid_shift_below)"),
    "camera_hold": dict(type=float, metavar="M",
                        help="make a named camera move as a plan known at mask M instead of the card's "
                             "camera_hold (0: leave it to the DiT; engine/camera.py)"),
    "motion_hold": dict(type=float, metavar="M",
                        help="move the caption's moving objects as a plan known at mask M instead of the "
                             "card's motion_hold (0: leave motion to the DiT; engine/motion.py)"),
    "decode_phases": dict(type=int, metavar="P",
                          help="average P phase-shifted decodes instead of the card's decode_phases"),
}


def add_card_overrides(parser: argparse.ArgumentParser, fields: tuple[str, ...], notes: dict | None = None) -> None:
    """--field-name flags for these card fields; `notes` adds a bench's own words to a help."""
    for name in fields:
        kwargs = dict(OVERRIDES[name])
        if notes and name in notes:
            kwargs["help"] += f" ({notes[name]})"
        parser.add_argument("--" + name.replace("_", "-"), **kwargs)


def apply_card_overrides(engine, args: argparse.Namespace, fields: tuple[str, ...]) -> None:
    """engine.card with each given flag's value in place of the checkpoint's."""
    changes = {name: tuple(v) if isinstance(v, list) else v
               for name in fields if (v := getattr(args, name)) is not None}
    if changes:
        engine.card = replace(engine.card, **changes)
