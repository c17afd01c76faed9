"""How the transcendence chapter scores a player: exact rewards on held-out positions,
and games on a ladder of diluted reference players with Elo and Glicko-2 ratings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import chess
import numpy as np
import torch
from torch import nn

from companion.core.cache import Result, cached_training

from .players import (
    STOCKFISH_RUNG,
    ReferencePlayer,
    StockfishPlayer,
    candidate_moves,
    move_rewards,
    open_stockfish,
    play_games,
    reference_move,
    stockfish_rewards,
)
from .policy import (
    NAME,
    VERSION,
    ChessConfig,
    ModelPlayer,
    _random_pairings,
    config_part,
    load_policy,
    make_experts,
    move_distribution,
    policy_logits,
    unmasked_choice_illegal,
)

# ----------------------------------------------------------------------------- rewards on held-out positions

@dataclass(frozen=True)
class PositionsConfig:
    """What the held-out positions depend on: the runs scored on the same experts' positions (the main
    run and three of its controls) read them from one cache entry."""

    error_rates: tuple
    errors: str
    diversity: str
    eval_positions: int
    opening_plies: int
    max_plies: int
    seed: int


def _evaluation_positions(config: PositionsConfig, device) -> Result:
    rng = np.random.default_rng(int(np.random.SeedSequence([config.seed, 2]).generate_state(1)[0]))
    experts = make_experts(ChessConfig(**dataclasses.asdict(config)))
    pairings = _random_pairings(experts, config.eval_positions, rng)
    games = play_games(pairings, int(rng.integers(2**31)), config.opening_plies, config.max_plies, resign=False)
    stacks = [game.moves[:int(rng.integers(config.opening_plies, len(game.moves)))]
              for game in games if len(game.moves) > config.opening_plies]
    return Result(metrics={"positions": stacks})


def evaluation_positions(config: ChessConfig) -> list:
    """`eval_positions` boards (with their move stacks), one from each of as many fresh expert games,
    at a uniformly drawn ply after the opening: positions of the kind the experts reach, never trained on.
    Cached on their own (as move lists)."""
    boards = []
    key = config_part(config, PositionsConfig)
    for stack in cached_training(f"{NAME}-positions", VERSION, key, _evaluation_positions).metrics["positions"]:
        board = chess.Board()
        for uci in stack:
            board.push_uci(uci)
        boards.append(board)
    return boards


def _position_rewards(config: PositionsConfig, device) -> Result:
    boards = evaluation_positions(config)
    rewards = [move_rewards(board, candidate_moves(board)) for board in boards]
    return Result(metrics={"positions": len(boards)},
                  arrays={"rewards": torch.as_tensor(np.concatenate(rewards)),
                          "counts": torch.as_tensor([len(r) for r in rewards])})


def position_rewards(config: ChessConfig | PositionsConfig) -> list[np.ndarray]:
    """The material judge's reward (`move_rewards`) of every candidate move of every held-out position,
    in `candidate_moves` order, cached beside the positions, so that the main run and the three controls
    scored on its positions judge them once (about 4.6 s for 1,000 positions, measured)."""
    key = config_part(config, PositionsConfig)
    arrays = cached_training(f"{NAME}-position-rewards", VERSION, key, _position_rewards).arrays
    return np.split(arrays["rewards"].numpy(), np.cumsum(arrays["counts"].numpy())[:-1])


def expert_mixture(experts: list, board, moves) -> np.ndarray:
    """The distribution over `moves` that the experts' pooled games teach a learner: each expert with the
    same weight; an expert's hashed errors spread evenly over the candidates, since nothing on the board
    predicts them (its move is the reference's with probability 1 - r + r / len(moves)); a blind-spot
    expert's move as it is, since a learner can predict it."""
    mixture = np.zeros(len(moves))
    reference = moves.index(reference_move(board, moves))
    for expert in experts:
        if expert.errors == "hashed":
            mixture += expert.error_rate / len(moves)
            mixture[reference] += 1 - expert.error_rate
        else:
            mixture[moves.index(expert.move(board, moves))] += 1
    return mixture / len(experts)


def reward_table(config: ChessConfig, model: nn.Module, positions_from: ChessConfig | None = None,
                 ) -> dict[str, np.ndarray]:
    """Exact expected rewards on the held-out positions (drawn from games of `positions_from`'s experts,
    by default `config`'s): (experts, positions) and (temperatures, positions) for the model, each an
    expectation over the player's move distribution (no sampling), by the material judge
    (`move_rewards`) and, with `stockfish`, by Stockfish too (`stockfish_` arrays); at tau = 1, the
    probability the model gives the reference's move and its total-variation distance to the experts'
    mixture (`expert_mixture`), with the mixture's own probability of the reference's move; whether the
    model's unmasked favourite move is illegal; and each position's moves."""
    boards = evaluation_positions(positions_from or config)
    material = position_rewards(positions_from or config)
    experts = make_experts(config)
    logits = policy_logits(model, config.model, boards)
    judges = ["material"] + (["stockfish"] if config.stockfish else [])
    expert_rewards = {judge: np.zeros((len(experts), len(boards))) for judge in judges}
    model_rewards = {judge: np.zeros((len(config.temperatures), len(boards))) for judge in judges}
    at_one = {name: np.zeros(len(boards)) for name in ("reference_probability", "mixture_reference_probability",
                                                        "tv_to_mixture")}
    one = list(config.temperatures).index(1.0)
    engine = open_stockfish() if config.stockfish else None
    try:
        for p, (board, row) in enumerate(zip(boards, logits)):
            moves = candidate_moves(board)
            chosen = [moves.index(expert.move(board, moves)) for expert in experts]
            distributions = [move_distribution(row, board, moves, tau) for tau in config.temperatures]
            mixture, reference = expert_mixture(experts, board, moves), moves.index(reference_move(board, moves))
            at_one["reference_probability"][p] = distributions[one][reference]
            at_one["mixture_reference_probability"][p] = mixture[reference]
            at_one["tv_to_mixture"][p] = 0.5 * np.abs(distributions[one] - mixture).sum()
            for judge in judges:
                rewards = material[p] if judge == "material" else stockfish_rewards(engine, board, moves, p)
                expert_rewards[judge][:, p] = rewards[chosen]
                model_rewards[judge][:, p] = [d @ rewards for d in distributions]
    finally:
        if engine is not None:
            engine.quit()
    table = {"expert": expert_rewards["material"], "model": model_rewards["material"],
             "illegal_top_move": unmasked_choice_illegal(model, config.model, boards),
             "positions": [[m.uci() for m in b.move_stack] for b in boards], **at_one}
    if config.stockfish:
        table.update(stockfish_expert=expert_rewards["stockfish"], stockfish_model=model_rewards["stockfish"])
    return table


def paired_interval(differences: np.ndarray) -> list[float]:
    """95% normal interval for the mean of paired differences."""
    half = 1.96 * differences.std(ddof=1) / math.sqrt(len(differences))
    return [float(differences.mean() - half), float(differences.mean() + half)]


# ----------------------------------------------------------------------------- the rating ladder

def ladder_players(config: ChessConfig, model: nn.Module | None, engine=None) -> dict:
    """Every player by name: the rungs (reference player with random moves, and Stockfish when `engine`
    is given), the experts, and the model at each temperature (left out when `model` is None)."""
    players = [ReferencePlayer(rate) for rate in config.ladder] + make_experts(config)
    if engine is not None:
        players.append(StockfishPlayer(engine))
    if model is not None:
        players += [ModelPlayer(model, config.model, tau) for tau in config.temperatures]
    return {p.name: p for p in players}


def ladder_rungs(config: ChessConfig) -> list[str]:
    return [ReferencePlayer(rate).name for rate in config.ladder] + ([STOCKFISH_RUNG] if config.stockfish else [])


def ladder_schedule(config: ChessConfig) -> list[tuple[str, str]]:
    """(white, black) names of every rated game: each expert and the model at each temperature plays
    `ladder_games` games against every rung, half with White; the rungs play each other as often."""
    rungs = ladder_rungs(config)
    rated = [e.name for e in make_experts(config)] + [f"model, tau = {tau:g}" for tau in config.temperatures]
    pairs = [(player, rung) for player in rated for rung in rungs]
    pairs += [(a, b) for i, a in enumerate(rungs) for b in rungs[i + 1:]]
    return [(a, b) if g % 2 == 0 else (b, a) for a, b in pairs for g in range(config.ladder_games)]


def _ladder_part(config: ChessConfig, part: int, parts: int) -> list[dict]:
    """Every `parts`-th game of the schedule from `part` on; in a worker process, the model comes
    from the cache."""
    model, _ = load_policy(config)
    engine = open_stockfish() if config.stockfish else None
    try:
        players = ladder_players(config, model, engine)
        schedule = ladder_schedule(config)
        numbers = list(range(part, len(schedule), parts))
        pairings = [(players[schedule[g][0]], players[schedule[g][1]]) for g in numbers]
        seed = int(np.random.SeedSequence([config.seed, 3]).generate_state(1)[0])
        games = play_games(pairings, seed, config.opening_plies, config.max_plies, resign=True, numbers=numbers)
    finally:
        if engine is not None:
            engine.quit()
    return [dataclasses.asdict(game) for game in games]


ELO = 400 / math.log(10)  # a rating difference of ELO * x makes the odds of winning e^x


def fit_ratings(games: list[dict], anchor: str, prior_sd: float = 1000.0) -> dict[str, list[float]]:
    """Elo ratings by maximum likelihood, each with a 95% interval: [rating, low, high].

    The model: White scores against Black with probability 1 / (1 + 10^((R_black - R_white) / 400)), a
    draw counting as half a win. `anchor` is fixed at 0. A weak normal prior (sd `prior_sd` Elo) keeps a
    rating finite for a player who won or lost every game; with dozens of games per player it moves the
    estimates by a few Elo at most. Intervals come from the curvature of the log-likelihood."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.optimize import minimize

    names = sorted({g["white"] for g in games} | {g["black"] for g in games})
    free = [n for n in names if n != anchor]
    index = {n: i for i, n in enumerate(free)}
    white = np.array([index.get(g["white"], -1) for g in games])
    black = np.array([index.get(g["black"], -1) for g in games])
    score = np.array([g["score"] for g in games])

    def strengths(x):
        padded = np.append(x, 0.0)  # index -1: the anchor
        return padded[white] - padded[black]

    def objective(x):
        d = strengths(x)
        p = 1 / (1 + np.exp(-d))
        loss = -np.sum(score * np.log(p + 1e-300) + (1 - score) * np.log(1 - p + 1e-300))
        grad_d = p - score
        grad = np.zeros(len(free) + 1)
        np.add.at(grad, white, grad_d)
        np.add.at(grad, black, -grad_d)
        sd = prior_sd / ELO
        return loss + np.sum(x**2) / (2 * sd**2), grad[:-1] + x / sd**2

    fit = minimize(objective, np.zeros(len(free)), jac=True, method="L-BFGS-B")
    p = 1 / (1 + np.exp(-strengths(fit.x)))
    hessian = np.zeros((len(free) + 1, len(free) + 1))
    weight = p * (1 - p)
    np.add.at(hessian, (white, white), weight)
    np.add.at(hessian, (black, black), weight)
    np.add.at(hessian, (white, black), -weight)
    np.add.at(hessian, (black, white), -weight)
    hessian = hessian[:-1, :-1] + np.eye(len(free)) / (prior_sd / ELO) ** 2
    se = np.sqrt(np.diag(np.linalg.inv(hessian)))
    ratings = {anchor: [0.0, 0.0, 0.0]}
    for name, i in index.items():
        r, half = fit.x[i] * ELO, 1.96 * se[i] * ELO
        ratings[name] = [float(r), float(r - half), float(r + half)]
    return ratings


def glicko_ratings(games: list[dict], ratings: dict, rungs: list[str]) -> dict[str, list[float]]:
    """A cross-check with the `glicko2` package: each rated player starts unrated (the rungs' mean
    rating, deviation 350) and plays all its games in one rating period against the rungs, whose
    ratings and deviations are the maximum-likelihood ones. Returns [rating, deviation] by name, or None
    where the package's volatility update overflows (results far from what the ratings predict)."""
    # glicko2 is imported here, not at the top: only the rating cross-check needs it
    import glicko2

    offset = 1500 - np.mean([ratings[r][0] for r in rungs])
    deviation = {r: max(30.0, (ratings[r][2] - ratings[r][1]) / 3.92) for r in rungs}
    found = {}
    for name in sorted({g["white"] for g in games} | {g["black"] for g in games}):
        if name in rungs:
            continue
        opponents, deviations, outcomes = [], [], []
        for g in games:
            if name in (g["white"], g["black"]):
                other = g["black"] if g["white"] == name else g["white"]
                if other in rungs:
                    opponents.append(ratings[other][0] + offset)
                    deviations.append(deviation[other])
                    outcomes.append(g["score"] if g["white"] == name else 1 - g["score"])
        player = glicko2.Player()
        try:
            player.update_player(opponents, deviations, outcomes)
            found[name] = [float(player.rating - offset), float(player.rd)]
        except OverflowError:  # the package's volatility iteration overflows for results far from expected
            found[name] = None
    return found


