"""Kubernetes resource quantities as exact numbers (cores and bytes), for arithmetic and validation."""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
    "T": Decimal(10**12), "P": Decimal(10**15), "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30),
    "Ti": Decimal(2**40), "Pi": Decimal(2**50),
}
_PATTERN = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")

GIB = 2**30
MIB = 2**20


def parse_quantity(text: str | int | float) -> Decimal:
    """'500m' -> 0.5, '2Gi' -> 2147483648. Raises ValueError with the accepted forms."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Decimal(str(text))
    match = _PATTERN.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (use e.g. 500m, 2, 4Gi, 512Mi)")
    return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]


def cpu(value: Decimal | float) -> str:
    """Cores as a quantity string in millicores, rounded up: 1.2345 -> '1235m'."""
    milli = -(-Decimal(str(value)) * 1000 // 1)
    return f"{int(milli)}m"


def memory(value: Decimal | int) -> str:
    """Bytes as a quantity string in MiB, rounded up."""
    return f"{int(-(-Decimal(value) // MIB))}Mi"


def gib(value: Decimal | int) -> str:
    """Bytes as a quantity string in GiB, rounded up."""
    return f"{int(-(-Decimal(value) // GIB))}Gi"
