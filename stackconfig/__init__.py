"""The typed, validated configuration of one Archon stack."""

from stackconfig.errors import ConfigError
from stackconfig.loader import load_stack_config, parse_raw_config
from stackconfig.model import StackConfig

__all__ = ["ConfigError", "StackConfig", "load_stack_config", "parse_raw_config"]
