from tools.config_reference import OUTPUT, render


def test_configuration_reference_is_up_to_date():
    assert OUTPUT.read_text() == render(), "run `python -m tools.config_reference` and commit docs/configuration.md"


def test_reference_lists_every_top_level_key_and_nested_defaults():
    text = render()
    for key in ("network", "cluster", "nodePools", "milvus", "topology", "quotas", "monitoring"):
        assert f"## `milvus-eks:{key}`" in text
    assert "| `network.azCount` | integer | `3` |" in text
    assert "`nodePools.<name>.taints[].effect`" in text
