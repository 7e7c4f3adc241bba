"""Several modules lowered to ExecuTorch in one pass, each still its own program.

Lowering one block costs 2-3 s on this CPU, mostly per pass rather than per operator: lowering 6
or 12 blocks as the inputs and outputs of one graph took 1.7-2.3x less time per block than one by
one (measured here, same process). XNNPACK's partitioner makes a single delegate of such a graph,
which could not be timed block by block; :class:`PerModulePartitioner` keeps its choice of
operators but splits the delegate by the graph input each operator descends from, and each
module's delegate is then serialised as a program of its own (``LoweredBackendModule.buffer``):
the same single delegate call, inputs and outputs as the module lowered alone.

Where the split is not clean (an operator XNNPACK left out, or one fed by two modules' inputs),
:func:`lower_together` answers None and the caller lowers the modules one at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn


class _Together(nn.Module):
    """The modules side by side: input i goes through module i."""

    def __init__(self, modules: Sequence[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(modules)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(part(x) for part, x in zip(self.parts, inputs, strict=True))


def _partitioner():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir.backend.partitioner import Partitioner, PartitionResult

    class PerModulePartitioner(Partitioner):
        """XNNPACK's partition, one delegate per graph input's module."""

        def __init__(self):
            self.xnnpack = XnnpackPartitioner()
            super().__init__(self.xnnpack.delegation_spec)

        def ops_to_not_decompose(self, exported):
            return self.xnnpack.ops_to_not_decompose(exported)

        def partition(self, exported) -> PartitionResult:
            result = self.xnnpack.partition(exported)
            graph = result.tagged_exported_program.graph_module.graph
            user_inputs = set(exported.graph_signature.user_inputs)
            owner = {n: i for i, n in enumerate(n for n in graph.nodes if n.name in user_inputs)}
            for node in graph.nodes:  # topological: an operator belongs to the input it descends from
                owners = {owner[a] for a in node.all_input_nodes if a in owner}
                if node not in owner and len(owners) == 1:
                    owner[node] = owners.pop()
            for node in graph.nodes:  # weights and buffers: the module that uses them
                users = {owner.get(u) for u in node.users}
                if node.op == "placeholder" and node not in owner and len(users) == 1 and None not in users:
                    owner[node] = users.pop()
            tags = {}
            for node in graph.nodes:
                if node.meta.get("delegation_tag") is not None and node in owner:
                    node.meta["delegation_tag"] = f"module_{owner[node]}"
                    tags[node.meta["delegation_tag"]] = self.xnnpack.delegation_spec
            return PartitionResult(tagged_exported_program=result.tagged_exported_program, partition_tags=tags)

    return PerModulePartitioner()


def lower_together(modules: Sequence[nn.Module], examples: Sequence[torch.Tensor]) -> list[bytes] | None:
    """Each module's ``.pte`` program, lowered in one pass; None where the modules do not split
    into one whole delegate each."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # importing ExecuTorch warns of APIs its own code still uses
        from executorch.exir import to_edge_transform_and_lower
        from executorch.exir.lowered_backend_module import LoweredBackendModule

        exported = torch.export.export(_Together([m.eval() for m in modules]), tuple(examples))
        edge = to_edge_transform_and_lower(exported, partitioner=[_partitioner()])
        graph_module = edge.exported_program().graph_module
        graph, user_inputs = graph_module.graph, set(edge.exported_program().graph_signature.user_inputs)
        inputs = [n for n in graph.nodes if n.op == "placeholder" and n.name in user_inputs]  # not buffers
        programs: dict[int, bytes] = {}
        for node in graph.nodes:
            if node.op != "call_function" or node.target is getattr:
                continue
            if "executorch_call_delegate" not in str(node.target):
                if "getitem" not in str(node.target):
                    return None  # an operator outside every delegate: a module would be timed in part
                continue
            delegate = getattr(graph_module, node.args[0].target)
            fed = [inputs.index(a) for a in node.args[1:] if a in inputs]
            if not isinstance(delegate, LoweredBackendModule) or len(fed) != 1 or fed[0] in programs:
                return None
            programs[fed[0]] = delegate.buffer()
    if sorted(programs) != list(range(len(modules))):
        return None
    return [programs[i] for i in range(len(modules))]
