"""The one place that reads Pulumi config: the whole config map, validated at once."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator, Mapping

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.errors import ConfigError
from stacks.settings import Settings
from stacks.validation import AWS_CREDENTIALS, load_stack_config


class StackConfigError(ConfigError, pulumi.RunError):
    """Reported by the Pulumi engine as a message, without a Python traceback."""


_validated: list[tuple[dict[str, Any], str, frozenset[str], Settings]] = []


@contextlib.contextmanager
def validated(config: Mapping[str, Any], stack: str, settings: Settings,
              secret_keys: frozenset[str] = frozenset()) -> Iterator[None]:
    """Within the block, a program handed exactly `config` for `stack` gets `settings` (what `load_stack_config`
    returned for them) instead of validating it again: the offline plan validates the stack file before it runs the
    program, so a bad file fails before the SDKs load. Any other input is validated as usual."""
    _validated.append((dict(config), stack, frozenset(secret_keys), settings))
    try:
        yield
    finally:
        _validated.pop()


def load_from_pulumi() -> Settings:
    config = {key: _decoded(runtime_config.get_config(key)) for key in sorted(_config_keys())}
    stack, secret_keys = pulumi.get_stack(), frozenset(_secret_keys())
    for done_config, done_stack, done_secret_keys, settings in reversed(_validated):
        if (done_config, done_stack, done_secret_keys) == (config, stack, secret_keys):
            return settings
    try:
        return load_stack_config(config, stack, secret_keys)
    except ConfigError as err:
        raise StackConfigError(err.problems) from None


def aws_provider_args(settings: Settings) -> dict[str, Any]:
    """What the program's explicit AWS provider receives from the stack: the explicit provider reads no `aws:*`
    config by itself, so every `aws:*` key validation accepts is passed here (credentials only as secrets)."""
    args: dict[str, Any] = {"region": settings.region}
    if settings.aws_profile:
        args["profile"] = settings.aws_profile
    if settings.allowed_account_ids:
        args["allowed_account_ids"] = list(settings.allowed_account_ids)
    aws = pulumi.Config("aws")
    for key, arg in zip(AWS_CREDENTIALS, ("access_key", "secret_key", "token")):
        value = aws.get_secret(key)
        if value is not None:
            args[arg] = value
    return args


def _decoded(value: Any) -> Any:
    # The engine passes object and list values as JSON text; anything else stays the string it is.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _config_keys() -> set[str]:
    # pulumi.Config can only look keys up; the whole map (for unknown and misspelt keys) is what the engine passes in
    # PULUMI_CONFIG and what the offline runner sets explicitly.
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def _secret_keys() -> set[str]:
    return {key for key in _config_keys() if runtime_config.is_config_secret(key)} | \
        set(runtime_config.get_config_secret_keys_env())
