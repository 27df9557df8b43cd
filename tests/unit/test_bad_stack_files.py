"""Every bad stack file in tests/data/bad_stacks is refused by `python -m tools.plan FILE`: exit 1, one error naming
the key (or the file), never a traceback. Odd but valid files plan normally."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, stack_document
from tools import plan as plan_command

BAD = ROOT / "tests" / "data" / "bad_stacks"

# case folder → what the error must name (the key as the user writes it, or the file's problem).
CASES = {
    # crashes that must end in one message
    "top-list": "must be a map with a `config:` key",
    "top-scalar": "must be a map with a `config:` key",
    "config-list": "`config:` must be a map",
    "config-scalar": "`config:` must be a map",
    "empty": "is empty",
    "no-config": "has no `config:` map",
    "not-yaml": "is not valid YAML",
    "latin1": "is not UTF-8: byte 0xe9 on line 1",
    "utf16": "is encoded as UTF-16",
    "directory": "is a directory",
    "date-retention": 'milvus-eks:monitoring.retention: got "2024-01-01"',
    "binary": "milvus-eks:monitoring.retention: uses the YAML tag !!binary",
    "set": "milvus-eks:nodePools.system.roles: uses the YAML tag !!set",
    "unsafe-tag": "milvus-eks:monitoring.retention: uses the YAML tag !!python/object/apply:os.system",
    "region-list": "aws:region: must be a region name",
    "region-map": "aws:region: must be a region name",
    "region-number": "aws:region: must be a region name",
    "profile-number": "aws:profile: must be the name of an AWS CLI profile",
    "pool-name-24": "milvus-eks:nodePools.ssssssssssssssssssssssss: makes the node group and launch template name",
    "pool-name-50": "at most 37; shorten it to at most 21 characters",
    "pool-name-62": "milvus-eks:nodePools.ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss: makes",
    "stack-name-long": "the stack name 'a-very-long-stack-name-for-a-team' breaks names",
    "stack-name-mixed-case": "the stack name 'Staging' breaks names the program builds from it: the S3 bucket name",
    "stack-name-underscore": "the stack name 'my_stack' breaks names",
    # values AWS, Kubernetes or Helm would refuse, or that would not do what the user meant
    "release-name-54": "milvus-eks:milvus.releaseName: makes the Helm release name",
    "release-name-60": "Helm release name allows at most 53",
    "release-name-50": "milvus-eks:milvus.releaseName: makes the Kubernetes object name",
    "namespace-kube-system": "milvus-eks:milvus.namespace: 'kube-system' is a namespace Kubernetes reserves",
    "namespace-default": "milvus-eks:monitoring.namespace: 'default' is a namespace Kubernetes reserves",
    "namespace-kube-public-extra": "milvus-eks:quotas.extraNamespaces[0]: 'kube-public'",
    "namespace-same": "milvus-eks:monitoring.namespace: is 'monitoring', the same as milvus.namespace",
    "duplicate-collection": "milvus-eks:topology.collections[1].name: 'default.docs' is already declared",
    "duplicate-resource-group": "milvus-eks:topology.resourceGroups[1].name: 'rga' is already declared",
    "replicas-zero-proxy": "milvus-eks:milvus.components.proxy.replicas: is 0",
    "replicas-zero-mixcoord": "milvus-eks:milvus.components.mixCoordinator.replicas: is 0",
    "requests-above-limits": "milvus-eks:milvus.components.proxy.resources.requests.memory: 8Gi is above the limit",
    "zero-limit": "milvus-eks:milvus.components.dataNode.resources.limits.cpu: is 0",
    "region-mars": "aws:region: unknown AWS region 'mars-east-1'",
    "region-us-west2": "aws:region: unknown AWS region 'us-west2'; did you mean us-west-2?",
    "split-ranges": "milvus-eks:cluster.endpoint.publicAccessCidrs: 0.0.0.0/1, 128.0.0.0/1 together cover 0.0.0.0/0",
    "private-off-restricted": "milvus-eks:cluster.endpoint.privateAccess: is false while publicAccessCidrs",
    "system-pool-tainted": "milvus-eks:nodePools.system.taints: every pool is tainted",
    "duplicate-key": "milvus-eks:monitoring.retention: is set twice (first on line 49)",
    "duplicate-pool": "milvus-eks:nodePools.system: is set twice",
    "null-pool-key": "milvus-eks:nodePools.~: key '~' is YAML null",
    "other-project": "other-app:nodePools: these keys belong to project 'other-app'",
    "misspelt-namespace": "milvus_eks:nodePools: namespace 'milvus_eks' is not this project's; did you mean 'milvus-eks'?",
    "runbook-template": "milvus-eks:monitoring.runbookUrl:",
    "image-tag-space": "milvus-eks:milvus.imageTag: 'v2.6.3 latest' is not an image tag",
    "image-tag-slash": "milvus-eks:milvus.imageTag: 'milvusdb/milvus:v2.6.3' is not an image tag",
    "plaintext-secret-key": "aws:secretKey: holds a secret in plaintext in the stack file; remove it and run "
                            "`pulumi config set --secret aws:secretKey <value>`",
    "plaintext-password": "pulumi config set --secret milvus-eks:rootPassword",
    "aws-unknown-key": "aws:skipRegionValidation: is not applied",
    "database-mixed-case": "milvus-eks:topology.collections[0].database: 'Search' is not a Kubernetes name",
    "binding-conflict": "milvus-eks:milvus.serviceAccountBinding: is 'podIdentity' but cluster.serviceAccountBinding "
                        "is 'irsa'",
}
MISLEADING = ("nodePools: required", "function-after", "literal[", "Input should be", "pydantic")


def _file(case: str) -> Path:
    (found,) = (BAD / case).glob("Pulumi.*")
    return found


def test_the_table_covers_the_corpus():
    assert sorted(CASES) == sorted(p.name for p in BAD.iterdir())


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_stack_file_is_refused_with_the_key(case, capsys, tmp_path):
    code = plan_command.main([str(_file(case)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert CASES[case] in err, err
    assert not any(m in err for m in MISLEADING), err
    assert not (tmp_path / "out").exists(), "a refused stack must write nothing"


def _run(case: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.plan", str(_file(case)), "--out", "/nonexistent/never"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_bad_stack_files_through_the_command_line():
    """Every file of the corpus through a real `python -m tools.plan FILE` process: exit 1, the key named, no
    traceback, nothing on stdout."""
    cases = sorted(CASES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(cases, pool.map(_run, cases)))
    for case, result in results.items():
        assert result.returncode == 1, (case, result.stderr)
        assert "Traceback" not in result.stderr, (case, result.stderr)
        assert CASES[case] in result.stderr, (case, result.stderr)
        assert result.stdout == "", case


def test_unsafe_tags_stay_inert(tmp_path):
    marker = Path("/tmp/milvus-eks-unsafe-tag-ran")  # what the tag in the file would create if it ran
    marker.unlink(missing_ok=True)
    assert plan_command.main([str(_file("unsafe-tag")), "--out", str(tmp_path)]) == 1
    assert not marker.exists()


# ------------------------------------------------------------------------------------ odd but valid
# Built from the current dev stack at test time, so they stay valid while the stack evolves.


def _variant(tmp_path: Path, edit) -> Path:
    text = edit((ROOT / "Pulumi.dev.yaml").read_text())
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    return path


def test_an_unquoted_date_is_text_where_text_is_expected(tmp_path):
    pool = "      roles: [system, monitoring]\n"
    path = _variant(tmp_path, lambda text: text.replace(pool, pool + "      labels: {since: 2024-05-01}\n"))
    assert plan_command._stack_settings(path).node_pools["system"].labels == {"since": "2024-05-01"}


def test_aws_profile_and_allowed_accounts_reach_the_explicit_provider(tmp_path):
    from tools.offline import run_program

    keys = "  aws:profile: prod-admin\n  aws:allowedAccountIds:\n    - '123456789012'\n"
    path = _variant(tmp_path, lambda text: text.replace("config:\n", "config:\n" + keys, 1))
    settings = plan_command._stack_settings(path)
    assert settings.aws_profile == "prod-admin" and settings.allowed_account_ids == ("123456789012",)
    provider = run_program(path).one("pulumi:providers:aws", "aws")
    for key, expected in (("profile", "prod-admin"), ("allowedAccountIds", ["123456789012"])):
        value = provider.inputs[key]
        # The engine passes provider inputs that are not strings as JSON text.
        assert (json.loads(value) if isinstance(value, str) and value.startswith("[") else value) == expected


def test_an_instance_type_without_a_price_is_a_warning_not_a_crash(tmp_path):
    config = stack_document("dev")
    config["milvus-eks:nodePools"]["system"]["instanceTypes"] = ["hpc6a.48xlarge"]
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    result = plan_command.build(path)
    warnings = result.document["cost"]["warnings"]
    assert any("hpc6a.48xlarge" in w and "not priced" in w for w in warnings), warnings
    assert not any("hpc6a" in item["item"] for item in result.document["cost"]["lineItems"])
    assert "not priced and left out of the total" in result.report
