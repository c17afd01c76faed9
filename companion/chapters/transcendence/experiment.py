"""The transcendence experiment: every temperature evaluated, the summary, games played out without
resignation, the controls (the best expert alone, no relative head, experts who always err, diverse and
shared blind spots), the page's sentences and `reproduce`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import chess
import numpy as np
import torch
from torch import nn

from companion.core.cache import Result, cached_training
from companion.core.sweeps import sweep

from .ladder import (
    _ladder_part,
    fit_ratings,
    glicko_ratings,
    ladder_rungs,
    reward_table,
)
from .players import ReferencePlayer, candidate_moves, move_rewards, play_games, reference_move
from .policy import (
    NAME,
    VERSION,
    ChessConfig,
    ModelPlayer,
    load_policy,
    make_experts,
    move_distribution,
    policy_logits,
    train_policy,
)

# ----------------------------------------------------------------------------- the experiment

def _evaluate(config: ChessConfig, device: torch.device) -> Result:
    started = time.perf_counter()
    model, trained = load_policy(config)
    parts = sweep(_ladder_part, [dict(config=config, part=k, parts=2) for k in range(2)], n_jobs=2)
    games = [game for part in parts for game in part]
    table = reward_table(config, model)
    rungs = ladder_rungs(config)
    ratings = fit_ratings(games, anchor=ReferencePlayer(max(config.ladder)).name)
    metrics = {"config": dataclasses.asdict(config), "games": games, "ratings": ratings,
               "glicko": glicko_ratings(games, ratings, rungs), "rungs": rungs, "positions": table.pop("positions"),
               "training": {k: trained.metrics[k] for k in ("history", "examples", "games", "mean_game_plies",
                                                           "expert_reference_agreement",
                                                           "mixture_reference_probability", "parameters",
                                                           "sample_pgn", "wall_seconds")},
               "wall_seconds": time.perf_counter() - started + trained.metrics["wall_seconds"]}
    arrays = {name: torch.as_tensor(values) for name, values in table.items()}
    return Result(metrics=metrics, arrays=arrays)


def run(config: ChessConfig, use_cache: bool = True, device: str = "cpu") -> Result:
    """Train the model (cached on its own), then measure rewards and play the ladder (cached)."""
    train_policy(config, use_cache)
    return cached_training(NAME, VERSION, config, _evaluate, use_cache=use_cache, device=device)


# ----------------------------------------------------------------------------- games played out

def _played_out(config: ChessConfig, device: torch.device) -> Result:
    """The model at tau = 1 and at tau*, and the best expert, each playing `ladder_games` games against
    the reference player (half with White) with no resignation: every game runs to mate, a draw or the
    move limit, where it is adjudicated on material."""
    started = time.perf_counter()
    model, _ = load_policy(config)
    best = min(make_experts(config), key=lambda expert: expert.error_rate)
    players = [ModelPlayer(model, config.model, 1.0), ModelPlayer(model, config.model, config.tau_star), best]
    reference = ReferencePlayer(0.0)
    pairings = [(player, reference) if g % 2 == 0 else (reference, player)
                for player in players for g in range(config.ladder_games)]
    seed = int(np.random.SeedSequence([config.seed, 4]).generate_state(1)[0])
    games = play_games(pairings, seed, config.opening_plies, config.max_plies, resign=False)
    found = {}
    for k, player in enumerate(players):
        mine = games[k * config.ladder_games:(k + 1) * config.ladder_games]
        scores = [g.score if g.white == player.name else 1 - g.score for g in mine]
        endings = {}
        for g in mine:
            endings[g.termination] = endings.get(g.termination, 0) + 1
        found[player.name] = {"score": float(np.mean(scores)), "scores": scores, "games": len(mine), "endings": endings,
                              "mean_game_plies": float(np.mean([len(g.moves) for g in mine]))}
    return Result(metrics={"players": found, "wall_seconds": time.perf_counter() - started})


def played_out(config: ChessConfig, use_cache: bool = True) -> dict:
    """`_played_out`'s results by player name (cached on their own, beside the ladder)."""
    train_policy(config, use_cache)
    return cached_training(f"{NAME}-played-out", VERSION, config, _played_out, use_cache=use_cache).metrics["players"]


# ----------------------------------------------------------------------------- the ablations

@dataclass(frozen=True)
class Ablation:
    """A model trained as `model` says, scored on held-out positions from games of `positions`'s experts:
    rewards at every temperature, by the material judge, and no ladder."""

    model: ChessConfig
    positions: ChessConfig


def _ablation_rewards(config: Ablation, device: torch.device) -> Result:
    started = time.perf_counter()
    model, trained = load_policy(config.model)
    table = reward_table(config.model, model, positions_from=config.positions)
    table.pop("positions")
    metrics = {"config": dataclasses.asdict(config),
               "wall_seconds": time.perf_counter() - started + trained.metrics["wall_seconds"]}
    return Result(metrics=metrics, arrays={name: torch.as_tensor(values) for name, values in table.items()})


def ablation_run(config: Ablation, use_cache: bool = True) -> Result:
    train_policy(config.model, use_cache)
    return cached_training(f"{NAME}-ablation", VERSION, config, _ablation_rewards, use_cache=use_cache)


def ablations(config: ChessConfig) -> dict[str, Ablation]:
    """The controls of the main run `config`, each trained on as many games as it:

    - "single_expert": the best expert alone, scored on the main run's positions: what denoising one
      expert gives, with no vote;
    - "no_head": the main run's experts and games, the board model without its `RelativeHead`;
    - "random_experts": experts who err everywhere (a hashed random move in every position), scored on
      the main run's positions: their pooled moves hold no vote and no signal to denoise, so whatever
      cooling gains here comes from the model's own preferences;
    - "diverse", "shared": experts whose errors a model can learn (blind spots, see `Expert`), different
      for each of three experts or the same for all three, each scored on positions from its own
      experts' games. Three experts with one blind spot make the same move in every position, so the
      shared committee is also the one-expert control for errors a model can learn."""
    plain = dataclasses.replace(config, stockfish=False)
    blind = dataclasses.replace(plain, errors="blind-spot")
    shared = dataclasses.replace(blind, diversity="shared")
    found = {"single_expert": Ablation(dataclasses.replace(plain, error_rates=(min(config.error_rates),)), plain),
             "no_head": Ablation(dataclasses.replace(plain, relative_head=False), plain),
             "random_experts": Ablation(dataclasses.replace(plain, error_rates=(1.0,) * config.experts), plain),
             "diverse": Ablation(blind, blind), "shared": Ablation(shared, shared)}
    if config.model != "board":  # the sequence model has no relative head to leave out
        del found["no_head"]
    return found


def _train_in_worker(config: ChessConfig) -> None:
    train_policy(config)  # the model reaches the parent through the cache


def chess_config(result: Result) -> ChessConfig:
    return ChessConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in result.metrics["config"].items()})


def position(result: Result, index: int):
    """Held-out position `index` as a board with its move stack."""
    board = chess.Board()
    for uci in result.metrics["positions"][index]:
        board.push_uci(uci)
    return board


def move_comparison(result: Result, index: int, tau: float, model: nn.Module | None = None) -> dict:
    """At held-out position `index`: the model's distribution at temperature tau, each expert's move,
    the reference's, and every candidate's reward."""
    config = chess_config(result)
    if model is None:
        model, _ = load_policy(config)
    board = position(result, index)
    moves = candidate_moves(board)
    row = policy_logits(model, config.model, [board])[0]
    return {"board": board, "moves": moves, "rewards": move_rewards(board, moves),
            "model": move_distribution(row, board, moves, tau), "reference": reference_move(board, moves),
            "experts": [e.move(board, moves) for e in make_experts(config)]}


# ----------------------------------------------------------------------------- what the page says
