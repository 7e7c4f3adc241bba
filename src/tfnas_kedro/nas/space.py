"""Search spaces as data: stages, depth ranges and candidate operations, loaded from YAML.

A :class:`SearchSpace` knows nothing about weights. It lists the searchable positions (stage,
layer, channels, stride, activation, input resolution) and turns a choice of depth, operation and
width per position into an :class:`~.arch.ArchDescription`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from .arch import Activation, ArchDescription, BlockSpec, HeadSpec, StemSpec, _check_kernel, _check_stride, _Spec
from .errors import ConfigError, validate_model
from .subnet import Subnet


class WidthRange(_Spec):
    """Expanded width of an op as multiples of the layer's input channels (``mid = e * Cin``)."""

    min: float
    max: float
    init: float

    @model_validator(mode="after")
    def _ordered(self) -> WidthRange:
        if self.min <= 1:
            # a block as wide as its input has no expansion convolution (blocks.MBInvRes), while the
            # supernet's elastic op always has one: the two would be different networks
            raise ValueError(
                f"min ({self.min}) <= 1: an op at 1 x Cin has no expansion convolution, which an elastic "
                "op in the supernet always has; set a min above 1"
            )
        if not self.min <= self.init <= self.max:
            raise ValueError(f"init ({self.init}) outside [min, max] = [{self.min}, {self.max}]")
        return self


class OpSpec(_Spec):
    """A candidate operation: an MBInvRes kernel, an elastic width range and a fixed SE width."""

    kernel: int
    width: WidthRange
    se: float = Field(0.0, ge=0.0, description="SE hidden width as a multiple of Cin; 0 = no SE")

    _kernel = field_validator("kernel")(_check_kernel)

    def mid_range(self, cin: int) -> tuple[int, int]:
        return math.ceil(self.width.min * cin), math.floor(self.width.max * cin)

    def init_mid(self, cin: int) -> int:
        return round(self.width.init * cin)

    def se_width(self, cin: int) -> int:
        return round(self.se * cin)


class FixedBlockSpec(_Spec):
    """A block that is not searched (the first MBInvRes after the stem); its input comes from before."""

    kernel: int
    mid: int = Field(gt=0)
    se: int = Field(0, ge=0)
    out: int = Field(gt=0)
    stride: int = 1
    act: Activation

    _kernel = field_validator("kernel")(_check_kernel)
    _stride = field_validator("stride")(_check_stride)


class StageSpec(_Spec):
    """A searchable stage: its first layer changes channels and stride, the others keep them."""

    out: int = Field(gt=0)
    stride: int
    act: Activation
    min_depth: int = Field(ge=1)
    max_depth: int = Field(ge=1)
    ops: list[str] | None = Field(None, description="candidate op names; all of the space's if omitted")

    _stride = field_validator("stride")(_check_stride)

    @model_validator(mode="after")
    def _depth_ordered(self) -> StageSpec:
        if self.min_depth > self.max_depth:
            raise ValueError(f"min_depth ({self.min_depth}) > max_depth ({self.max_depth})")
        return self


@dataclass(frozen=True)
class LayerPosition:
    """One searchable layer: where it sits and what every candidate op there sees."""

    stage: int
    layer: int
    cin: int
    cout: int
    stride: int
    act: str
    input_hw: int
    ops: tuple[str, ...]


class SearchSpace(_Spec):
    name: str = ""
    description: str = ""
    resolution: int = Field(224, gt=0)
    in_channels: int = Field(3, gt=0)
    stem: StemSpec
    fixed_blocks: list[FixedBlockSpec] = []
    stages: list[StageSpec] = Field(min_length=1)
    ops: dict[str, OpSpec] = Field(min_length=1)
    head: HeadSpec

    @model_validator(mode="after")
    def _known_ops(self) -> SearchSpace:
        for i, stage in enumerate(self.stages):
            if stage.ops is not None and not stage.ops:
                raise ValueError(f"stages[{i}].ops: empty; omit it to use every op of the space")
            for name in stage.ops or ():
                if name not in self.ops:
                    raise ValueError(f"stages[{i}].ops: unknown op {name!r} (known: {', '.join(self.ops)})")
        return self

    # --- loading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping, name: str = "") -> SearchSpace:
        data = dict(data)
        data.setdefault("name", name)
        return validate_model(cls, data, prefix=f"search_spaces.{name}" if name else "")

    def at_resolution(self, resolution: int) -> SearchSpace:
        """The same space for another input resolution (positions' input sizes follow)."""
        return self if resolution == self.resolution else self.model_copy(update={"resolution": resolution})

    # --- structure -----------------------------------------------------------------------------
    def stage_ops(self, stage: int) -> tuple[str, ...]:
        return tuple(self.stages[stage].ops or self.ops)

    def positions(self) -> list[LayerPosition]:
        """Every searchable layer at its maximum depth, in network order."""
        side = math.ceil(self.resolution / self.stem.stride)
        cin = self.stem.out
        for block in self.fixed_blocks:
            side, cin = math.ceil(side / block.stride), block.out
        positions = []
        for s, stage in enumerate(self.stages):
            for layer in range(stage.max_depth):
                stride = stage.stride if layer == 0 else 1
                positions.append(LayerPosition(s, layer, cin, stage.out, stride, stage.act, side, self.stage_ops(s)))
                side, cin = math.ceil(side / stride), stage.out
        return positions

    def stage_positions(self) -> list[list[LayerPosition]]:
        grouped: list[list[LayerPosition]] = [[] for _ in self.stages]
        for pos in self.positions():
            grouped[pos.stage].append(pos)
        return grouped

    def block_spec(self, position: LayerPosition, op_name: str, mid: int | None = None) -> BlockSpec:
        """The block that op ``op_name`` at ``position`` is with expanded width ``mid`` (initial if omitted)."""
        op = self.ops[op_name]
        return BlockSpec(
            kernel=op.kernel,
            in_=position.cin,
            mid=op.init_mid(position.cin) if mid is None else mid,
            se=op.se_width(position.cin),
            out=position.cout,
            stride=position.stride,
            act=position.act,
        )

    def fixed_block_inputs(self) -> list[tuple[BlockSpec, int]]:
        """The fixed blocks with the input side length each sees."""
        side, out = math.ceil(self.resolution / self.stem.stride), []
        for spec in self._fixed_block_specs():
            out.append((spec, side))
            side = math.ceil(side / spec.stride)
        return out

    def output_size(self) -> int:
        """Side length of the last stage's output (what the head conv sees)."""
        last = self.positions()[-1]
        return math.ceil(last.input_hw / last.stride)

    # --- architectures -------------------------------------------------------------------------
    def _fixed_block_specs(self) -> list[BlockSpec]:
        specs, cin = [], self.stem.out
        for b in self.fixed_blocks:
            specs.append(BlockSpec(kernel=b.kernel, in_=cin, mid=b.mid, se=b.se, out=b.out, stride=b.stride, act=b.act))
            cin = b.out
        return specs

    def build_arch(
        self,
        depths: Sequence[int],
        ops: Sequence[Sequence[str]],
        mids: Sequence[Sequence[int]] | None = None,
        *,
        name: str = "",
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> ArchDescription:
        """The architecture with ``depths[s]`` layers in stage ``s``, op ``ops[s][l]`` at each layer
        and expanded width ``mids[s][l]`` (the op's initial width where ``mids`` is omitted): the
        :class:`~.subnet.Subnet` written stage by stage with op names, as a hand-written one is."""
        if len(depths) != len(self.stages) or len(ops) != len(self.stages):
            raise ConfigError(f"need one depth and one op list per stage ({len(self.stages)} stages)")
        op_index, widths = [], []
        for pos in self.positions():
            s, layer = pos.stage, pos.layer
            if layer >= depths[s]:
                op_index.append(0)
                widths.append({})
                continue
            op_name = ops[s][layer]
            if op_name not in pos.ops:
                raise ConfigError(f"stages[{s}] layer {layer}: op {op_name!r} not a candidate {pos.ops}")
            op_index.append(pos.ops.index(op_name))
            widths.append({op_name: self.ops[op_name].init_mid(pos.cin) if mids is None else mids[s][layer]})
        subnet = Subnet.of(depths, op_index, widths)
        return self.arch_of(subnet, name=name, num_classes=num_classes, dropout=dropout)

    def arch_of(self, subnet: Subnet, *, name: str = "", num_classes: int = 1000, dropout: float = 0.2):
        """The architecture of ``subnet`` (:meth:`Subnet.to_arch`), its depths and widths checked."""
        for s, (stage, depth) in enumerate(zip(self.stages, subnet.depths, strict=True)):
            if not stage.min_depth <= depth <= stage.max_depth:
                raise ConfigError(f"stages[{s}]: depth {depth} outside [{stage.min_depth}, {stage.max_depth}]")
        blocks = self._fixed_block_specs()
        for j, pos, op_name in subnet.active(self):
            block = self.block_spec(pos, op_name, subnet.widths[j][op_name])
            lo, hi = self.ops[op_name].mid_range(pos.cin)
            if not lo <= block.mid <= hi:
                raise ConfigError(
                    f"stages[{pos.stage}] layer {pos.layer}: mid {block.mid} outside {op_name}'s range [{lo}, {hi}]"
                )
            blocks.append(block)
        return ArchDescription(
            name=name,
            space=self.name,
            resolution=self.resolution,
            in_channels=self.in_channels,
            stem=self.stem,
            blocks=blocks,
            head=self.head,
            num_classes=num_classes,
            dropout=dropout,
        )

    def matching_ops(self, position: LayerPosition, block: BlockSpec) -> list[str]:
        """Candidate ops at ``position`` that could have produced ``block`` (kernel, width, SE)."""
        names = []
        for name in position.ops:
            op = self.ops[name]
            lo, hi = op.mid_range(position.cin)
            if op.kernel == block.kernel and lo <= block.mid <= hi and op.se_width(position.cin) == block.se:
                names.append(name)
        return names

    def explain_mismatch(self, arch: ArchDescription) -> list[str]:
        """Why ``arch`` is not an architecture of this space (empty when it is)."""
        problems = []
        fixed = self._fixed_block_specs()
        if arch.stem != self.stem:
            problems.append(f"stem {arch.stem} != space stem {self.stem}")
        if arch.head != self.head:
            problems.append(f"head {arch.head} != space head {self.head}")
        if list(arch.blocks[: len(fixed)]) != fixed:
            problems.append("fixed blocks differ from the space's")
        rest = list(arch.blocks[len(fixed) :])
        for s, stage_positions in enumerate(self.stage_positions()):
            stage = self.stages[s]
            depth = 0
            while depth < len(stage_positions) and rest and (depth == 0 or rest[0].in_ == rest[0].out == stage.out):
                pos, block = stage_positions[depth], rest[0]
                if (block.in_, block.out, block.stride, block.act) != (pos.cin, pos.cout, pos.stride, pos.act):
                    break
                if not self.matching_ops(pos, block):
                    problems.append(f"stages[{s}] layer {depth}: {block.as_row()} matches no candidate op")
                rest.pop(0)
                depth += 1
            if not stage.min_depth <= depth <= stage.max_depth:
                problems.append(f"stages[{s}]: depth {depth} outside [{stage.min_depth}, {stage.max_depth}]")
        if rest:
            problems.append(f"{len(rest)} blocks left over after the last stage")
        return problems


def load_search_spaces(source: str | Path | Mapping) -> dict[str, SearchSpace]:
    """Search spaces from a YAML file (or its parsed mapping) with a top-level ``search_spaces`` key."""
    if not isinstance(source, Mapping):
        source = yaml.safe_load(Path(source).read_text())
    if "search_spaces" in source:
        source = source["search_spaces"]
    return {name: SearchSpace.from_dict(cfg, name) for name, cfg in source.items()}
