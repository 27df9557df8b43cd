"""The offline runner: invokes it does not know fail loudly, and runs do not leak into each other."""

import json

import pulumi
import pytest

from components import outputs
from tools.offline import RecordingMocks, read_config, run_program, stack_file


def test_an_unknown_invoke_fails_loudly():
    with pytest.raises(LookupError, match="aws:ec2/getVpc:getVpc is not mocked"):
        RecordingMocks().call(pulumi.runtime.MockCallArgs(token="aws:ec2/getVpc:getVpc", args={}, provider=""))


def test_a_run_starts_from_a_fresh_stack():
    with_monitoring = run_program("dev")
    config = read_config(stack_file("dev"))
    config["milvus-eks:monitoring"] = json.dumps({"enabled": False})
    without = run_program("dev", config=config)
    assert outputs.GRAFANA_ADMIN_SECRET in with_monitoring.outputs
    assert outputs.GRAFANA_ADMIN_SECRET not in without.outputs
    assert len(without.resources) < len(with_monitoring.resources)
