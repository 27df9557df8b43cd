from stacks.catalog import load_catalog


def test_catalog_matches_the_reference_examples():
    catalog = load_catalog()
    assert len(catalog) == 1363
    r6id = catalog["r6id.4xlarge"]
    assert (r6id.vcpu, r6id.memory_mib // 1024, r6id.local_nvme_gb, r6id.arch) == (16, 128, 950, "amd64")
    assert (catalog["i4i.2xlarge"].vcpu, catalog["i4i.2xlarge"].local_nvme_gb) == (8, 1875)
    assert catalog["m6id.2xlarge"].local_nvme_gb == 474
    assert not catalog["m7i.large"].nvme
    assert r6id.alloc_millicpu == 15890 and r6id.alloc_memory_mib == 118312
    assert r6id.alloc_memory_bytes < r6id.memory_mib * 2**20
