import csv
import re
import shutil
from pathlib import Path

import pytest

from reports.pricing import DATA_DIR, PriceNotFound, PriceTable, load_price_table

CATALOG = Path(__file__).resolve().parents[2] / "stacks" / "data" / "instance_types.csv"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_price_table()


@pytest.mark.parametrize(
    ("instance_type", "usd"),
    # Values read in Karpenter's zz_generated.pricing_aws.go, generated 2026-07-20 for us-east-1.
    [("m5.large", 0.096), ("m5.xlarge", 0.192), ("c5.large", 0.085), ("i4i.2xlarge", 0.686), ("t3.medium", 0.0416)],
)
def test_known_us_east_1_instance_prices(table: PriceTable, instance_type: str, usd: float) -> None:
    assert table.instance_hourly("us-east-1", instance_type) == pytest.approx(usd)


def test_known_service_prices(table: PriceTable) -> None:
    assert table.ebs_gp3_gb_month("us-east-1") == pytest.approx(0.08)
    assert table.ebs_gp3_iops_month("us-east-1") == pytest.approx(0.005)
    assert table.ebs_gp3_throughput_month("us-east-1") == pytest.approx(0.04)
    assert table.nat_gateway_hour("us-east-1") == pytest.approx(0.045)
    assert table.nat_gateway_gb("us-east-1") == pytest.approx(0.045)
    assert table.eks_control_plane_hour("us-east-1") == pytest.approx(0.10)
    assert table.eks_control_plane_hour("us-east-1", extended_support=True) == pytest.approx(0.60)
    assert table.s3_standard_gb_month("us-east-1") == pytest.approx(0.023)


def test_every_catalog_type_is_priced_or_listed_missing_in_us_east_1(table: PriceTable) -> None:
    with CATALOG.open(newline="") as handle:
        catalog = {row["instance_type"] for row in csv.DictReader(handle)}
    priced = {t for (region, t) in table.instance_prices if region == "us-east-1"}
    missing = {t for (region, t) in table.missing_instances if region == "us-east-1"}
    assert catalog - priced - missing == set()
    # Prices for types outside the catalog would be dead data that nothing validates.
    assert priced - catalog == set()
    assert missing - catalog == set()


def test_missing_type_error_names_type_region_and_file(table: PriceTable) -> None:
    with pytest.raises(PriceNotFound) as error:
        table.instance_hourly("us-east-1", "hpc7a.96xlarge")
    message = str(error.value)
    assert "'hpc7a.96xlarge'" in message and "'us-east-1'" in message and "prices_missing.csv" in message


def test_unpriced_region_error_lists_priced_regions(table: PriceTable) -> None:
    with pytest.raises(KeyError) as error:
        table.instance_hourly("eu-west-1", "m5.large")
    assert str(error.value) == (
        "no EC2 prices for region 'eu-west-1'; priced regions: us-east-1 (reports/data/prices.md)"
    )


def test_unknown_type_error(table: PriceTable) -> None:
    with pytest.raises(PriceNotFound, match=r"'m5\.huge' in region 'us-east-1'"):
        table.instance_hourly("us-east-1", "m5.huge")


def test_unsourced_service_price_error(table: PriceTable) -> None:
    with pytest.raises(PriceNotFound, match=r"vpc nat_gateway_hour in region 'eu-central-1'; priced regions: us-east-1"):
        table.nat_gateway_hour("eu-central-1")


def test_table_cannot_be_mutated(table: PriceTable) -> None:
    with pytest.raises(TypeError):
        table.instance_prices[("us-east-1", "m5.large")] = 0.0  # type: ignore[index]


def test_every_service_price_carries_a_source() -> None:
    with (DATA_DIR / "service_prices.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        assert row["source_url"].startswith("https://"), row
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?|undated", row["source_date"]), row
        assert row["confidence"] in {"primary", "secondary", "quoted"}, row


def test_provenance_names_the_ec2_source_and_its_date() -> None:
    provenance = (DATA_DIR / "prices.md").read_text()
    assert "zz_generated.pricing_aws.go" in provenance
    assert "6fc13b5236fd04fd16ff3f9dc7490d0813994099" in provenance
    assert "2026-07-20T13:44:30Z" in provenance
    # Every service price must be explained in the provenance text, not only listed in the csv.
    with (DATA_DIR / "service_prices.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            assert row["usd"] in provenance, row["item"]


def _copy_data(tmp_path: Path) -> Path:
    for name in ("prices.csv", "prices_missing.csv", "service_prices.csv"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def test_loader_rejects_a_non_positive_price(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    with (data / "prices.csv").open("a") as handle:
        handle.write("us-west-2,m5.large,0\n")
    with pytest.raises(ValueError, match=r"prices\.csv line \d+: price must be a positive number"):
        load_price_table(data)


def test_loader_rejects_a_type_both_priced_and_missing(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    with (data / "prices_missing.csv").open("a") as handle:
        handle.write("us-east-1,m5.large,contradiction\n")
    with pytest.raises(ValueError, match=r"listed as missing but priced"):
        load_price_table(data)


def test_loader_rejects_wrong_columns(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    (data / "service_prices.csv").write_text("service,item,usd\nebs,gp3_storage,0.08\n")
    with pytest.raises(ValueError, match=r"service_prices\.csv: expected columns"):
        load_price_table(data)
