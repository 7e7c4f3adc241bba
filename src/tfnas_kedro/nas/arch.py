"""Architecture descriptions: a concrete network as plain, JSON-serialisable data.

An :class:`ArchDescription` is the one currency between pipelines: the search derives it, the
network builder builds it, the latency table prices it and :mod:`.cost` counts its MACs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import validate_model

ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "swish", "hswish")


def _check_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return name


Activation = Annotated[str, AfterValidator(_check_activation)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_kernel(kernel: int) -> int:
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be a positive odd number, got {kernel}")
    return kernel


def _check_stride(stride: int) -> int:
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return stride


class StemSpec(_Spec):
    """Plain conv + BN + activation on the input image."""

    out: int = Field(gt=0)
    kernel: int = 3
    stride: int = 2
    act: Activation

    _kernel = field_validator("kernel")(_check_kernel)
    _stride = field_validator("stride")(_check_stride)


class BlockSpec(_Spec):
    """One MBInvRes block. ``mid == in`` means no expansion conv; ``se == 0`` means no SE."""

    kernel: int
    in_: int = Field(alias="in", gt=0)
    mid: int = Field(gt=0)
    se: int = Field(ge=0)
    out: int = Field(gt=0)
    stride: int
    act: Activation

    _kernel = field_validator("kernel")(_check_kernel)
    _stride = field_validator("stride")(_check_stride)

    @model_validator(mode="after")
    def _expansion_widens(self) -> BlockSpec:
        if self.mid < self.in_:
            raise ValueError(
                f"mid ({self.mid}) < in ({self.in_}): an expansion conv must widen its input; "
                "use mid == in for a block without expansion"
            )
        return self

    @property
    def has_expansion(self) -> bool:
        return self.mid != self.in_

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.in_ == self.out

    def as_row(self) -> dict:
        return self.model_dump(by_alias=True)


class HeadSpec(_Spec):
    """1x1 conv + BN + activation after the last block, before pooling and the classifier."""

    out: int = Field(gt=0)
    act: Activation


class ArchDescription(_Spec):
    """A concrete network: stem, MBInvRes blocks, head conv, global pool, dropout, classifier."""

    name: str = ""
    space: str = Field("", description="search space the architecture was drawn from, if any")
    resolution: int = Field(224, gt=0, description="input resolution it is designed and priced at")
    in_channels: int = Field(3, gt=0)
    stem: StemSpec
    blocks: list[BlockSpec] = Field(min_length=1)
    head: HeadSpec
    num_classes: int = Field(1000, gt=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _channels_chain(self) -> ArchDescription:
        if self.blocks[0].in_ != self.stem.out:
            raise ValueError(f"blocks[0].in ({self.blocks[0].in_}) != stem.out ({self.stem.out})")
        for i in range(1, len(self.blocks)):
            if self.blocks[i].in_ != self.blocks[i - 1].out:
                raise ValueError(
                    f"blocks[{i}].in ({self.blocks[i].in_}) != blocks[{i - 1}].out ({self.blocks[i - 1].out})"
                )
        self.feature_sizes(self.resolution)
        return self

    @property
    def total_stride(self) -> int:
        return self.stem.stride * math.prod(b.stride for b in self.blocks)

    def feature_sizes(self, resolution: int | None = None) -> list[int]:
        """Input side length of every block at ``resolution``, then the head's.

        A stride-2 layer with 'same' padding maps ``h`` to ``ceil(h / 2)``. A resolution smaller
        than the network's total stride would need the feature map to shrink below one pixel;
        that is rejected rather than silently computed on padding.
        """
        resolution = self.resolution if resolution is None else resolution
        if resolution < self.total_stride:
            raise ValueError(
                f"resolution {resolution} collapses to zero: the network's total stride is "
                f"{self.total_stride}, so the input must be at least {self.total_stride} pixels"
            )
        side = math.ceil(resolution / self.stem.stride)
        sizes = []
        for block in self.blocks:
            sizes.append(side)
            side = math.ceil(side / block.stride)
        sizes.append(side)
        return sizes

    def with_updates(self, **changes) -> ArchDescription:
        """A validated copy with some top-level fields changed (``num_classes=10``, ...)."""
        return ArchDescription.from_dict({**self.to_dict(), **changes})

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.model_dump(by_alias=True, mode="json")

    def to_json(self) -> str:
        """JSON with one block per line, so that diffs between architectures read well."""
        lines = []
        for key, value in self.to_dict().items():
            if key == "blocks":
                rows = ",\n".join(f"    {json.dumps(block)}" for block in value)
                lines.append(f'  "blocks": [\n{rows}\n  ]')
            else:
                lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    @classmethod
    def from_dict(cls, data: dict, prefix: str = "") -> ArchDescription:
        return validate_model(cls, data, prefix)

    @classmethod
    def from_json(cls, text: str, prefix: str = "") -> ArchDescription:
        return cls.from_dict(json.loads(text), prefix)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> ArchDescription:
        return cls.from_json(Path(path).read_text(), prefix=str(path))


def architectures_to_json(architectures: dict[str, ArchDescription]) -> str:
    """A name -> description mapping as JSON, each description laid out as in ``to_json``."""
    parts = [
        f"  {json.dumps(name)}: " + arch.to_json().rstrip().replace("\n", "\n  ")
        for name, arch in architectures.items()
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def architectures_from_dict(raw: dict, prefix: str = "") -> dict[str, ArchDescription]:
    return {name: ArchDescription.from_dict(desc, prefix=f"{prefix}{name}") for name, desc in raw.items()}
