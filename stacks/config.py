"""The one place that reads Pulumi config: every `milvus-eks:*` key and `aws:region`, validated at once."""

from __future__ import annotations

import json

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.errors import NAMESPACE, ConfigError, Problem
from stacks.settings import Settings
from stacks.validation import load_settings


class StackConfigError(ConfigError, pulumi.RunError):
    """Reported by the Pulumi engine as a message, without a Python traceback."""


def load_from_pulumi() -> Settings:
    raw, problems = {}, []
    for key in sorted(_namespace_keys()):
        value = runtime_config.get_config(f"{NAMESPACE}:{key}")
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            problems.append(Problem(key, f"must be a map of keys to values, got {value!r}"))
    try:
        settings = load_settings(raw, pulumi.Config("aws").get("region"))
    except ConfigError as err:
        raise StackConfigError([*problems, *err.problems]) from None
    problems += _plaintext_secrets(settings)
    if problems:
        raise StackConfigError(problems)
    return settings


def _plaintext_secrets(settings: Settings) -> list[Problem]:
    # Alert receivers' URLs and keys must reach the program as Pulumi secrets: structured config marks the whole
    # top-level key secret when any value under it was set with --secret.
    key = f"{NAMESPACE}:monitoring"
    if runtime_config.is_config_secret(key):
        return []
    return [Problem(f"monitoring.alerting.receivers[{i}]",
                    f"receiver {r.name!r} holds its secret in plain text; set it with "
                    f"`pulumi config set --secret --path '{key}.alerting.receivers[{i}].<integration>.<field>'`")
            for i, r in enumerate(settings.monitoring.alerting.receivers)
            if any(isinstance(getattr(getattr(r, k), f, None), str)
                   for k, f in (("slack", "api_url"), ("pagerduty", "routing_key"), ("webhook", "url"))
                   if getattr(r, k) is not None)]


def _namespace_keys() -> set[str]:
    # pulumi.Config can only look keys up; unknown (misspelt) top-level keys are found in the whole config map,
    # which the engine passes in PULUMI_CONFIG and the offline runner sets explicitly.
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):] for k in keys if k.startswith(prefix)}
