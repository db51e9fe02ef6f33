"""Where Pressluft keeps its files: platformdirs' user dirs, or ``PRESSLUFT_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "pressluft"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    state_dir: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        """``home`` (or ``$PRESSLUFT_HOME``) holds everything, state included, so a test
        or a second installation is fully isolated; otherwise platformdirs decides."""
        root = home or os.environ.get("PRESSLUFT_HOME")
        if root:
            base = Path(root).expanduser().resolve()
            return cls(data_dir=base, state_dir=base / "state")
        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
            state_dir=Path(platformdirs.user_state_dir(APP_NAME)),
        )

    @property
    def database(self) -> Path:
        return self.data_dir / "pressluft.db"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def job_logs_dir(self) -> Path:
        return self.data_dir / "logs" / "jobs"

    @property
    def cli_session_file(self) -> Path:
        return self.state_dir / "session"

    def ensure(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.job_logs_dir.mkdir(parents=True, exist_ok=True)
