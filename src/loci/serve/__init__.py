"""The browser player: a FastAPI app where a user steers a world's camera with the keyboard.

``run_player(PlayerConfig(make_session=...))`` serves it; ``create_app(config)`` builds the app.
The protocol is described in :mod:`loci.serve.protocol`.
"""

from .app import create_app, player_url, run_player
from .config import PlayerConfig
from .protocol import MAX_MESSAGE_BYTES, ProtocolError, parse_message

__all__ = [
    "MAX_MESSAGE_BYTES",
    "PlayerConfig",
    "ProtocolError",
    "create_app",
    "parse_message",
    "player_url",
    "run_player",
]
