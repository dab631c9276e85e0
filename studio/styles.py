"""Style presets: a named paragraph added to the prompt. A few ship here; the user's own are
saved in WORKSPACE/styles.json (atomically) and may override a shipped name."""
from __future__ import annotations

import json
import re

from engine.io import write_json_atomic
from studio.workspace import Workspace

# Written in the world's own vocabulary (engine/world/upsample.py), so the model knows every word.
SHIPPED = {
    "None": "",
    "Moonlit night": "at night under a starry sky, moving slowly",
    "Seaside": "over the ocean waves on a beach",
    "Desert heat": "in the sandy desert dunes",
    "Studio backdrop": "in a plain grey studio, static camera",
    "Meadow": "over a green grassy meadow",
    "Fast action": "moving quickly",
    # Camera moves: the engine makes a named pan or zoom as a plan over the model's own still
    # (engine/camera.py), so these work even where the model alone keeps its camera still.
    "Pan left": "as the camera pans to the left",
    "Pan right": "as the camera pans to the right",
    "Zoom in": "as the camera slowly zooms in",
    "Zoom out": "as the camera zooms out",
}
NAME = re.compile(r"^[\w][\w '\-]{0,39}$")


class Styles:
    def __init__(self, workspace: Workspace):
        self.path = workspace.root / "styles.json"

    def user(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read the saved styles in {self.path}: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError(f"{self.path} must map style names to text")
        return data

    def all(self) -> dict[str, str]:
        return {**SHIPPED, **self.user()}

    def names(self) -> list[str]:
        return list(self.all())

    def text(self, name: str | None) -> str:
        if not name:
            return ""
        styles = self.all()
        if name not in styles:
            raise ValueError(f"there is no style called {name!r}")
        return styles[name]

    def save(self, name: str, text: str) -> None:
        name = (name or "").strip()
        if not NAME.fullmatch(name):
            raise ValueError("a style name is 1-40 letters, digits, spaces, ' or -")
        if len(text) > 500:
            raise ValueError("a style paragraph is at most 500 characters")
        write_json_atomic({**self.user(), name: text.strip()}, self.path)

    def delete(self, name: str) -> None:
        user = self.user()
        if name not in user:
            raise ValueError(f"{name!r} is not one of your saved styles (shipped ones stay)")
        del user[name]
        write_json_atomic(user, self.path)


def with_style(prompt: str, style_text: str) -> str:
    """The prompt the engine sees: the user's words, then the style paragraph."""
    prompt, style_text = (prompt or "").strip(), (style_text or "").strip()
    return f"{prompt}, {style_text}" if prompt and style_text else prompt or style_text
