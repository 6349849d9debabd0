"""The ``[shadow]`` config section: where the shadow decision engine finds its candidate config."""

from __future__ import annotations

from dataclasses import dataclass

from hope.config import register_section


@register_section("shadow")
@dataclass
class ShadowConfig:
    # A hope.toml-style file whose [decision] section is the candidate (other sections are
    # validated but unused); relative paths resolve against the main config file's directory.
    # The same file works with `hope replay --config`.
    config: str = "hope.shadow.toml"

    def validate(self) -> None:
        if not self.config.strip():
            raise ValueError("config: must name the candidate decision config file")
