"""IAM policy documents the components attach (pure JSON), and how a workload role is bound to a service account."""

from __future__ import annotations

import json

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The service-account annotation EKS' pod identity webhook reads to inject a web-identity token and the role
(EKS user guide, "Assign IAM roles to Kubernetes service accounts")."""
IRSA_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


def assume_role_policy(service: str, tag_session: bool = False) -> str:
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else ["sts:AssumeRole"]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    })


def pod_identity_trust_policy() -> str:
    """EKS Pod Identity: the agent assumes the role and tags the session with the pod's namespace and service
    account; the association, not the trust policy, names the service account."""
    return assume_role_policy(POD_IDENTITY_SERVICE, tag_session=True)


def irsa_trust_policy(provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Web-identity trust limited to one service account (IRSA)."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                       f"{issuer}:aud": IRSA_AUDIENCE}},
    }]})
