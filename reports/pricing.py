"""On-demand list prices the cost estimate multiplies by the plan: EC2 per instance-hour, EBS gp3, NAT gateway,
EKS control plane, S3 Standard.

The numbers are data, not code: `data/prices.csv` (EC2), `data/prices_missing.csv` (catalog types the EC2 source
does not price) and `data/service_prices.csv` (the rest, each row with its source URL and date). `data/prices.md`
says where every number comes from. A price that is not in those files is an error, never a default.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

DATA_DIR = Path(__file__).parent / "data"

HOURS_PER_MONTH = 730
"""AWS' own convention for monthly estimates (24 × 365 / 12)."""

GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT_MBPS = 125
"""Every gp3 volume includes this much performance; only what is provisioned above it is billed (prices.md)."""

_SERVICE_COLUMNS = ("service", "item", "region", "usd", "unit", "source_url", "source_date", "confidence")


class PriceNotFound(KeyError):
    """No sourced price for this region and item; the message names both and what *is* priced."""

    def __str__(self) -> str:  # KeyError would print the message wrapped in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class ServicePrice:
    service: str
    item: str
    region: str
    usd: float
    unit: str
    source_url: str
    source_date: str
    confidence: str  # primary | secondary | quoted, defined in prices.md


@dataclass(frozen=True)
class PriceTable:
    instance_prices: Mapping[tuple[str, str], float]
    """(region, instance type) → USD per instance-hour."""
    missing_instances: frozenset[tuple[str, str]]
    """(region, instance type) pairs the project's catalog has but the price source does not."""
    services: Mapping[tuple[str, str, str], ServicePrice]
    """(service, item, region) → price with its provenance."""

    @property
    def instance_regions(self) -> tuple[str, ...]:
        return tuple(sorted({region for region, _ in self.instance_prices}))

    def instance_hourly(self, region: str, instance_type: str) -> float:
        price = self.instance_prices.get((region, instance_type))
        if price is not None:
            return price
        if (region, instance_type) in self.missing_instances:
            raise PriceNotFound(
                f"no on-demand price for instance type {instance_type!r} in region {region!r}: the price source "
                f"does not list it there (reports/data/prices_missing.csv); choose another instance type"
            )
        if region not in self.instance_regions:
            raise PriceNotFound(
                f"no EC2 prices for region {region!r}; priced regions: {', '.join(self.instance_regions)} "
                f"(reports/data/prices.md)"
            )
        raise PriceNotFound(
            f"no on-demand price for instance type {instance_type!r} in region {region!r}: not in the "
            f"instance-type catalog's price table (reports/data/prices.csv)"
        )

    def service_price(self, service: str, item: str, region: str) -> ServicePrice:
        price = self.services.get((service, item, region))
        if price is None:
            priced = sorted({r for (s, i, r) in self.services if (s, i) == (service, item)})
            where = f"priced regions: {', '.join(priced)}" if priced else "no region has it"
            raise PriceNotFound(
                f"no sourced price for {service} {item} in region {region!r}; {where} "
                f"(reports/data/service_prices.csv)"
            )
        return price

    def ebs_gp3_gb_month(self, region: str) -> float:
        return self.service_price("ebs", "gp3_storage", region).usd

    def ebs_gp3_iops_month(self, region: str) -> float:
        """Per provisioned IOPS-month above GP3_FREE_IOPS."""
        return self.service_price("ebs", "gp3_iops_above_3000", region).usd

    def ebs_gp3_throughput_month(self, region: str) -> float:
        """Per provisioned MB/s-month above GP3_FREE_THROUGHPUT_MBPS."""
        return self.service_price("ebs", "gp3_throughput_above_125", region).usd

    def nat_gateway_hour(self, region: str) -> float:
        return self.service_price("vpc", "nat_gateway_hour", region).usd

    def nat_gateway_gb(self, region: str) -> float:
        return self.service_price("vpc", "nat_gateway_data_processed", region).usd

    def eks_control_plane_hour(self, region: str, *, extended_support: bool = False) -> float:
        item = "control_plane_extended_support" if extended_support else "control_plane_standard_support"
        return self.service_price("eks", item, region).usd

    def s3_standard_gb_month(self, region: str) -> float:
        """The first-50-TB tier; the estimate's buckets are far below it."""
        return self.service_price("s3", "standard_storage_first_50tb", region).usd


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            raise ValueError(f"{path.name}: expected columns {','.join(columns)}, found {reader.fieldnames}")
        return list(reader)


def _positive_usd(path: Path, line: int, text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{path.name} line {line}: price must be a positive number of USD, got {text!r}")
    return value


def load_price_table(data_dir: Path = DATA_DIR) -> PriceTable:
    prices_path = data_dir / "prices.csv"
    instance_prices: dict[tuple[str, str], float] = {}
    for line, row in enumerate(_rows(prices_path, ("region", "instance_type", "usd_per_hour")), start=2):
        key = (row["region"], row["instance_type"])
        if key in instance_prices:
            raise ValueError(f"{prices_path.name} line {line}: duplicate price for {key}")
        instance_prices[key] = _positive_usd(prices_path, line, row["usd_per_hour"])

    missing_path = data_dir / "prices_missing.csv"
    missing = frozenset(
        (row["region"], row["instance_type"]) for row in _rows(missing_path, ("region", "instance_type", "reason"))
    )
    priced_and_missing = sorted(missing & instance_prices.keys())
    if priced_and_missing:
        raise ValueError(f"{missing_path.name}: listed as missing but priced in prices.csv: {priced_and_missing}")

    services_path = data_dir / "service_prices.csv"
    services: dict[tuple[str, str, str], ServicePrice] = {}
    for line, row in enumerate(_rows(services_path, _SERVICE_COLUMNS), start=2):
        price = ServicePrice(**{**row, "usd": _positive_usd(services_path, line, row["usd"])})
        key = (price.service, price.item, price.region)
        if key in services:
            raise ValueError(f"{services_path.name} line {line}: duplicate price for {key}")
        services[key] = price

    return PriceTable(
        instance_prices=MappingProxyType(instance_prices),
        missing_instances=missing,
        services=MappingProxyType(services),
    )
