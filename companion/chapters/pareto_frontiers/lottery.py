"""Pareto frontiers: lottery tickets, the neurons that mattered, rewound to where they started.

A wide sparse network that solved the task is the source. Its strongest neurons (the ticket), its
weakest and a fresh random sparse network of the same small width are trained again, side by side, on
the source's data, from their initial weights: do the neurons that mattered succeed again alone, and did
they start on the support?
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from companion.core.cache import Result, cached
from companion.core.config import check_int, resolve_scale
from companion.core.models import EnsembleMLP
from companion.core.runtime import pick_device, torch_threads

from .experiment import NAME, SCALES, VERSION, Config, build_model, fit, join_data, join_models, make_data, run

# Sources: sparse networks at this (m, width), one per sparsity s. At m = 600 the wide sources
# nearly always succeed while small random networks often do not, so tickets have room to differ.
LOTTERY = {
    "test": dict(m=600, source_width=100, ticket_width=10, sparsities=(3, 6, 10)),
    "book": dict(m=600, source_width=1000, ticket_width=20, sparsities=(3, 6, 10)),
    "full": dict(m=600, source_width=3000, ticket_width=20, sparsities=(2, 3, 6, 10)),
}
TICKET_KINDS = ("ticket", "weakest", "random")


@dataclass(frozen=True)
class LotteryConfig:
    source: Config
    ticket_width: int = 20

    def __post_init__(self):
        check_int("ticket_width", self.ticket_width, 1, self.source.width)
        if self.source.init != "sparse":
            raise ValueError(f"the lottery's source must have init='sparse', got {self.source.init!r}")


def neuron_strength(result: Result) -> torch.Tensor:
    """(R, width): each neuron's trained contribution |a_i| * ||(w_i, b_i)||, at the step its
    replicate succeeded (or at T)."""
    hidden, bias = result.arrays["final.hidden"], result.arrays["final.hidden_bias"]
    readout = result.arrays["final.readout"][:, 0]
    return readout.abs() * torch.cat([hidden, bias[..., None]], -1).norm(dim=-1)


def ticket_neurons(result: Result, ticket_width: int, weakest: bool = False) -> torch.Tensor:
    """(R, ticket_width) indices of each replicate's strongest neurons (or its weakest)."""
    return neuron_strength(result).topk(ticket_width, dim=1, largest=not weakest).indices


def support_overlap(result: Result) -> torch.Tensor:
    """(R, width): how many of the k support bits each neuron's initial weights touch, out of k."""
    initial = result.arrays["initial.hidden"] != 0  # (R, width, n)
    supports = result.arrays["supports"]  # (R, k)
    touched = torch.gather(initial, 2, supports[:, None, :].expand(-1, initial.shape[1], -1))
    return touched.float().mean(-1)


def rewind(model: EnsembleMLP, trained: Result, chosen: torch.Tensor) -> None:
    """Load the chosen neurons' initial weights (before any training) into a small model."""
    rows = torch.arange(chosen.shape[0])[:, None]
    with torch.no_grad():
        model.hidden.copy_(trained.arrays["initial.hidden"][rows, chosen])
        model.hidden_bias.copy_(trained.arrays["initial.hidden_bias"][rows, chosen])
        model.readout.copy_(trained.arrays["initial.readout"][:, 0][rows, chosen][:, None])


def _compute_lottery(lottery: LotteryConfig, device: torch.device) -> Result:
    """Three small networks per seed, trained side by side on the source's data: the rewound ticket
    (the strongest neurons), the rewound weakest neurons, and a fresh random sparse network."""
    source = lottery.source
    trained = run(source)
    small = dataclasses.replace(source, width=lottery.ticket_width)
    R = small.replicates
    # the random networks draw from a stream of their own: stream 2 would repeat the source's first neurons
    models = [build_model(small, stream=6) for _ in TICKET_KINDS]
    rewind(models[0], trained, ticket_neurons(trained, lottery.ticket_width))
    rewind(models[1], trained, ticket_neurons(trained, lottery.ticket_width, weakest=True))
    data = {key: value.to(device) for key, value in join_data([make_data(small)] * len(TICKET_KINDS)).items()}
    model = join_models(models, small.parametrization).to(device)
    found = fit(model, small, data, f"{NAME} lottery s={source.sparsity}")
    outcomes = {kind: found["success_steps"][i * R:(i + 1) * R] for i, kind in enumerate(TICKET_KINDS)}
    solved = torch.tensor([s is not None for s in trained.metrics["success_steps"]])
    overlap = support_overlap(trained)
    chosen = ticket_neurons(trained, lottery.ticket_width)
    ticket_overlap = torch.gather(overlap, 1, chosen)[solved]
    metrics = {"source": dataclasses.asdict(source), "ticket_width": lottery.ticket_width,
               "source_success": float(solved.float().mean()), "success_steps": outcomes,
               **{f"{kind}_success": sum(s is not None for s in steps) / R for kind, steps in outcomes.items()},
               # over the seeds whose source network succeeded: the tickets' share of S at initialisation
               "ticket_overlap": float(ticket_overlap.mean()) if solved.any() else None,
               "random_overlap": float(overlap[solved].mean()) if solved.any() else None,
               "ticket_cover": float((ticket_overlap == 1).float().mean()) if solved.any() else None,
               "random_cover": float((overlap[solved] == 1).float().mean()) if solved.any() else None,
               "ticket_off_support": float((ticket_overlap == 0).float().mean()) if solved.any() else None,
               # per solved seed: its tickets' mean share of S minus its network's mean share
               "overlap_excess": (ticket_overlap.mean(1) - overlap[solved].mean(1)).tolist()}
    return Result(metrics=metrics)


def lottery_sources(scale: str | None = None, seed: int = 0) -> list[Config]:
    scale = resolve_scale(scale)
    plan, sizes = SCALES[scale], LOTTERY[scale]
    return [Config(n=plan["n"], k=plan["k"], m=sizes["m"], width=sizes["source_width"], init="sparse",
                   sparsity=s, replicates=plan["replicates"], max_steps=plan["max_steps"], seed=seed)
            for s in sizes["sparsities"]]


def lottery_experiment(source: Config, ticket_width: int) -> Result:
    """Rewound tickets against the weakest neurons and random networks of the same width (cached)."""
    lottery = LotteryConfig(source=source, ticket_width=ticket_width)

    def compute():
        with torch_threads(1):
            return _compute_lottery(lottery, pick_device("auto"))
    return cached(f"{NAME}-lottery", VERSION, lottery, compute)
