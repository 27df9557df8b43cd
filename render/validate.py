"""Every Kubernetes object checked against the schema the API server will apply (pure).

Built-in kinds: the OpenAPI schemas kubernetes-validate ships, strict variant (unknown fields are errors, as
`kubectl apply`'s default strict field validation makes them), for the cluster's minor (`schema_version`).
kubernetes-validate's own `validate()` re-reads the 1.4 MB definitions file on every call; here each version's
files are read once and each kind's validator is built once, with the same files, validator class
(Draft 2020-12) and file layout.

Custom resources: the `openAPIV3Schema` of the CustomResourceDefinitions among the objects validated (render_chart
includes a chart's CRDs in its output, so pass them together). The structural-schema extensions are applied the
way the API server applies them:
- `nullable: true` admits null (OpenAPI 3.0; JSON Schema ignores the keyword);
- `x-kubernetes-int-or-string` admits an integer or a string;
- unknown fields are errors (strict field validation) except under `x-kubernetes-preserve-unknown-fields`;
- `x-kubernetes-embedded-resource` objects may carry apiVersion, kind and metadata;
- the root `metadata` is checked as ObjectMeta (the server does, whatever the CRD says), `apiVersion` and `kind`
  must name a served version of the CRD.
Not evaluated: `x-kubernetes-validations` (CEL rules: no CEL engine here), `x-kubernetes-list-type` uniqueness, and
`format` keywords (as in kubernetes-validate). An object whose kind has neither a built-in schema nor a CRD is an
error, not a pass.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, Iterable, Mapping

import jsonschema
from jsonschema.exceptions import best_match
from packaging.version import Version
from referencing import Registry, Resource

from render.charts import RenderedObject, thaw

_SCHEMAS = resources.files("kubernetes_validate") / "kubernetes-json-schema"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = {"$ref": f"{_DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
_CRD_KIND = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


def shipped_versions() -> list[Version]:
    return sorted({Version(p.name.split("-")[0][1:]) for p in _SCHEMAS.iterdir() if p.name.startswith("v")})


def schema_version(kubernetes_version: str) -> str:
    """The schema set to validate against: the cluster's minor if kubernetes-validate ships it (1.37.0 ships
    1.25-1.37, every minor the settings allow), else the nearest newer one (a newer API server still serves every
    stable field an older one did, so an object valid for the newer schema and using only GA APIs is what the older
    cluster accepts too). Fails if only older schemas exist: an older API could pass fields the cluster rejects."""
    wanted = Version(kubernetes_version)
    candidates = shipped_versions()
    for candidate in candidates:
        if (candidate.major, candidate.minor) >= (wanted.major, wanted.minor):
            return str(candidate)
    raise LookupError(f"kubernetes-validate has no schemas for Kubernetes >= {kubernetes_version} "
                      f"(newest {candidates[-1]}); upgrade kubernetes-validate")


@functools.cache
def _builtin_registry(version: str) -> tuple[Registry, Any]:
    folder = _SCHEMAS / f"v{version}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry(), folder


@functools.cache
def _builtin_validator(version: str, api_version: str, kind: str) -> jsonschema.Validator | None:
    registry, folder = _builtin_registry(version)
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 → rbac-v1, apps/v1 → apps-v1, v1 → v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = folder / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The file says which group/version/kind it is: `pod-v1.json` is also what `metrics.k8s.io/v1` would map to.
    if not any((g["group"], g["version"], g["kind"]) == _gvk(api_version, kind)
               for g in schema.get("x-kubernetes-group-version-kind") or ()):
        return None
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _gvk(api_version: str, kind: str) -> tuple[str, str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version, kind


def _structural(schema: Any, branch: bool = False) -> Any:
    """A CRD's OpenAPI v3 schema as the JSON Schema the API server effectively applies (module docstring).

    `branch`: inside allOf/anyOf/oneOf, where a structural schema may only add value checks to fields declared
    outside (no types, no new fields), so unknown fields are not judged there."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: _structural(sub, branch) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _structural(value, branch) if isinstance(value, Mapping) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_structural(sub, True) for sub in value]
        elif not key.startswith("x-kubernetes-") and key != "nullable":
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("x-kubernetes-embedded-resource"):
        out["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                             "metadata": {"type": "object"}, **out.get("properties", {})}
    if not branch and (out.get("type") == "object" or "properties" in out) \
            and not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _crd_validators(crds: Iterable[Mapping[str, Any]], registry: Registry) -> dict[tuple, jsonschema.Validator]:
    found = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec.get("versions") or ():
            if not version.get("served"):
                continue
            api_version = f"{spec['group']}/{version['name']}"
            root = _structural(((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
            root.setdefault("properties", {})
            root["properties"].update({"apiVersion": {"const": api_version}, "kind": {"const": spec["names"]["kind"]},
                                       "metadata": _OBJECT_META})
            root["required"] = sorted({*root.get("required", ()), "apiVersion", "kind", "metadata"})
            found[_gvk(api_version, spec["names"]["kind"])] = jsonschema.Draft202012Validator(root, registry=registry)
    return found


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{meta.get('name', '?')} ({obj.get('apiVersion', '?')})"


def validate_objects(objects: Iterable[RenderedObject | Mapping[str, Any]], kubernetes_version: str) -> list[str]:
    """One message per invalid object: kind namespace/name (apiVersion), where in the object, what is wrong."""
    version = schema_version(kubernetes_version)
    registry, _ = _builtin_registry(version)
    plain = [thaw(o.obj if isinstance(o, RenderedObject) else o) for o in objects]
    custom = _crd_validators((o for o in plain if (o.get("apiVersion"), o.get("kind")) == _CRD_KIND), registry)
    problems = []
    for obj in plain:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            problems.append(f"{_describe(obj)}: an object needs a string apiVersion and kind")
            continue
        validator = _builtin_validator(version, api_version, kind) or custom.get(_gvk(api_version, kind))
        if validator is None:
            problems.append(f"{_describe(obj)}: no schema: {kind} is neither a built-in kind of Kubernetes "
                            f"{version} nor defined by a CustomResourceDefinition among the objects validated")
            continue
        error = best_match(validator.iter_errors(obj))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{_describe(obj)}: {path}: {error.message}")
    return problems
