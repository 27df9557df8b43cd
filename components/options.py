"""Resource options shared by the components."""

from __future__ import annotations

import pulumi


def inherited_dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """What a component was told to wait for, to hand to its children.

    Pulumi applies a ComponentResource's `depends_on` to the component's own registration only, not to its children
    (pulumi/runtime/resource.py, prepare_resource), so a Helm release inside a component that "depends on" the node
    pools would otherwise start before the nodes exist.
    """
    if opts is None or opts.depends_on is None:
        return []
    deps = opts.depends_on
    return list(deps) if isinstance(deps, (list, tuple)) else [deps]
