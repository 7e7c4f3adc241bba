"""A walk from the search's choice to the latency target, one depth or op at a time: what
:func:`~.target_fit.fit_to_target` falls back on where its most probable candidates do not land
(a table noisy enough that a width's latency is not monotone, on which elasticity-scaling's
bisection can miss a band the candidates' bounds promised)."""

from __future__ import annotations

from dataclasses import replace

from .elastic import Fit, FitProblem, ScalingResult, op_width_ends
from .subnet import Subnet


class _TargetFitter:
    """The state of one :func:`fit_to_target`: the choices tried, the notes, the best fit so far."""

    def __init__(self, problem: FitProblem, start: Subnet):
        self.problem, self.space, self.start = problem, problem.space, start
        self.depth_probs, self.op_probs = problem.depth_probs, problem.op_probs
        self.positions = self.space.positions()
        # each op's latency at its narrowest and widest width, per layer: what an op swap moves
        self.extremes = op_width_ends(problem.table, self.space)
        self.seen: set[tuple] = set()
        self.notes: list[str] = []
        self.best: Fit | None = None  # the closest result below the target

    def scale(self, subnet: Subnet) -> ScalingResult:
        """Elasticity-scaling of ``subnet``'s choice, remembered as tried and as best when it is."""
        self.seen.add(subnet.choice)
        result = self.problem.scale(subnet)
        if result.feasible and (self.best is None or result.gap < self.best.scaling.gap):
            self.best = Fit(result, list(self.notes))
        return result

    def back_to_best(self) -> tuple[Subnet, ScalingResult]:
        """The best choice so far, at the widths the search left (what is scaled from)."""
        self.notes.append(
            f"depth overshoots the target both ways: back to {self.best.scaling.latency_ms:.3f} ms, changing ops"
        )
        return replace(self.best.subnet, widths=self.start.widths), self.best.scaling

    def depth_move(self, subnet: Subnet, step: int, result: ScalingResult) -> Subnet | None:
        """One layer more (``step`` 1) or less (-1) in the stage whose depth distribution leans
        furthest that way, among the stages where that leads somewhere new."""
        depths = subnet.depths
        candidates = [
            s
            for s, stage in enumerate(self.space.stages)
            if stage.min_depth <= depths[s] + step <= stage.max_depth
            and subnet.with_depth(s, depths[s] + step).choice not in self.seen
        ]
        if not candidates:
            return None
        probs = self.depth_probs
        lean = [sum(probs[s][depths[s] :]) if step > 0 else sum(probs[s][: depths[s] - 1]) for s in candidates]
        stage = candidates[max(range(len(candidates)), key=lean.__getitem__)]
        self.notes.append(f"stage {stage + 1} depth {depths[stage]} -> {depths[stage] + step} ({result.message})")
        return subnet.with_depth(stage, depths[stage] + step)

    def op_move(self, subnet: Subnet, step: int, fine: bool, result: ScalingResult) -> Subnet | None:
        """The first op swap of :meth:`op_swaps` that leads somewhere new."""
        for j, i in self.op_swaps(subnet, step, fine):
            moved = subnet.with_op(j, i)
            if moved.choice not in self.seen:
                ops = self.positions[j].ops
                self.notes.append(f"layer {j} op {ops[subnet.ops[j]]} -> {ops[i]} ({result.message})")
                return moved
        return None

    def op_swaps(self, subnet: Subnet, step: int, fine: bool) -> list[tuple[int, int]]:
        """Op changes that move latency in direction ``step``: among the active layers, ops cheaper
        (``step < 0``) or dearer (``step > 0``) at their extreme width than the current one. Most
        probable first, or (``fine``) smallest change first, to close a gap that depth overshoots."""
        end = 1 if step > 0 else 0  # the widest or the narrowest width
        swaps = []
        for j, pos, _ in subnet.active(self.space):
            current = self.extremes[j][subnet.ops[j]][end]
            for i in range(len(pos.ops)):
                change = self.extremes[j][i][end] - current
                if i != subnet.ops[j] and change * step > 0:
                    swaps.append((-abs(change) if fine else self.op_probs[j][i], j, i))
        return [(j, i) for _, j, i in sorted(swaps, reverse=True)]


def walk_to_target(problem: FitProblem, subnet: Subnet) -> Fit:
    """Elasticity-scaling, with depth and then ops changed one step at a time as last resorts.

    Widths alone cannot reach a target above what the chosen depths and ops allow at full width
    (or below what they need at their narrowest); a short search may end there. Then the stage
    whose depth distribution leans furthest the needed way changes depth by one; when no depth
    change leads somewhere new (one layer more is too slow even at the narrowest widths, one less
    too fast even at the widest), the most probable op that moves latency the needed way replaces
    the current one. The widths are fitted again after each change, until the result is within
    ``tolerance`` below the target; no choice of depths and ops is tried twice. If that never
    happens, the closest result below the target is returned. Every change is reported.
    """
    fitter = _TargetFitter(problem, subnet)
    last_step, ops_only = 0, False
    limit = sum(s.max_depth for s in problem.space.stages) * (1 + max(len(p.ops) for p in fitter.positions))
    for _ in range(limit):
        result = fitter.scale(subnet)
        if result.feasible and result.gap <= problem.tolerance:
            return Fit(result, fitter.notes)
        step = 1 if result.feasible else -1  # too fast: dearer; too slow: cheaper
        if last_step and step != last_step and not ops_only and fitter.best is not None:
            # one layer more overshoots, one less falls short: finer steps come from the ops
            ops_only, step = True, 1
            subnet, result = fitter.back_to_best()
        last_step = step
        moved = None if ops_only else fitter.depth_move(subnet, step, result)
        moved = moved or fitter.op_move(subnet, step, ops_only, result)
        if moved is None:
            break
        subnet = moved
    best = fitter.best
    if best is None:
        return Fit(result, fitter.notes)
    return Fit(best.scaling, best.notes + [f"kept the closest result below the target: {best.scaling.message}"])
