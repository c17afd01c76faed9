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
from companion.core.config import resolve_scale
from companion.core.stats import verdict
from companion.core.sweeps import sweep

from .ladder import (
    _ladder_part,
    fit_ratings,
    glicko_ratings,
    ladder_rungs,
    paired_interval,
    position_rewards,
    reward_table,
)
from .players import STOCKFISH_RUNG, ReferencePlayer, candidate_moves, move_rewards, play_games, reference_move
from .policy import (
    NAME,
    VERSION,
    ChessConfig,
    ModelPlayer,
    config_for,
    load_policy,
    make_experts,
    move_distribution,
    policy_logits,
    train_policy,
)
from .toy import toy_results

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


def reward_summary(expert: np.ndarray, model: np.ndarray, taus: list, tau_star: float) -> dict:
    """Mean rewards, and the paired intervals the claims are about, from (experts, positions) and
    (temperatures, positions) arrays of expected rewards."""
    star, one = model[taus.index(tau_star)], model[taus.index(1.0)]
    best = int(expert.mean(1).argmax())
    return {"model_reward": {str(tau): float(model[t].mean()) for t, tau in enumerate(taus)},
            "expert_reward": [float(r) for r in expert.mean(1)],
            "expert_average_reward": float(expert.mean()),
            "best_expert_reward": float(expert[best].mean()),
            "reward_gain_ci": paired_interval(star - expert[best]),
            "temperature_one_vs_average_ci": paired_interval(one - expert.mean(0))}


GAIN_BINS = np.linspace(-2, 10, 25)  # pawns: the per-position gain from cooling, as a histogram


def gain_histogram(gain: np.ndarray) -> dict:
    """Counts of the per-position reward change from tau = 1 to tau*, in GAIN_BINS (the outer bins take
    everything beyond them), as the paper draws the distribution over states."""
    counts, edges = np.histogram(np.clip(gain, GAIN_BINS[0], GAIN_BINS[-1]), bins=GAIN_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def summary(result: Result) -> dict:
    """The chapter's numbers from one run: rewards, their paired intervals, ratings, where the gain lies."""
    config = chess_config(result)
    taus = list(config.temperatures)
    arrays = {name: value.numpy() for name, value in result.arrays.items()}
    ratings = result.metrics["ratings"]
    gain = gains_over_temperature_one(result)
    order = np.sort(gain)[::-1]
    top_tenth = max(1, len(gain) // 10)
    games = result.metrics["games"]
    rewards = reward_summary(arrays["expert"], arrays["model"], taus, config.tau_star)
    report = {
        "temperatures": taus,
        "tau_star": config.tau_star,
        "judge": "two-ply material count",
        "expert_error_rates": list(config.error_rates),
        **rewards,
        "gain_over_best_ci": rewards["reward_gain_ci"],
        "cooling_gain_ci": paired_interval(gain),
        "reference_probability": float(arrays["reference_probability"].mean()),
        "mixture_reference_probability": float(arrays["mixture_reference_probability"].mean()),
        "tv_to_mixture": float(arrays["tv_to_mixture"].mean()),
        "model_rating": {str(tau): ratings[f"model, tau = {tau:g}"] for tau in taus},
        "expert_ratings": [ratings[e.name] for e in make_experts(config)],
        "ladder_ratings": {name: ratings[name] for name in result.metrics["rungs"]},
        "glicko": result.metrics["glicko"],
        "illegal_move_rate": float(arrays["illegal_top_move"].mean()),
        "gain_share_top_tenth": float(order[:top_tenth].sum() / gain.sum()),
        "positions_with_gain": float((gain > 0.01).mean()),
        "gain_histogram": gain_histogram(gain),
        "mean_game_plies": float(np.mean([len(g["moves"]) for g in games])),
        "resigned_share": float(np.mean([g["termination"] == "resigned" for g in games])),
        "positions": int(len(gain)),
        "reference_agreement": result.metrics["training"]["history"]["reference_agreement"][-1],
        "stockfish": None,
        "toy": {k: v for k, v in toy_results().items() if k != "scenarios"},
    }
    if config.stockfish:
        report["stockfish"] = reward_summary(arrays["stockfish_expert"], arrays["stockfish_model"], taus,
                                             config.tau_star)
    return report


def stockfish_sentence(report: dict) -> str:
    """What the second judge found, in words, for the chapter (or that it was absent)."""
    judged = report["stockfish"]
    if not judged:
        return ("Stockfish was not installed on the machine that built this page, so the material judge is the "
                "only one, and the ladder has no Stockfish rung.")
    low, high = judged["temperature_one_vs_average_ci"]
    gain_low, gain_high = judged["reward_gain_ci"]
    verdict = "Stockfish agrees." if gain_low > 0 and low <= 0 <= high else "Stockfish sees it differently."
    star = judged["model_reward"][str(report["tau_star"])]
    return (f"{verdict} Judged by its evaluation after each move (in pawns, from the mover's side), the model "
            f"earns {judged['model_reward']['1.0']:+.2f} at tau = 1 against the experts' average of "
            f"{judged['expert_average_reward']:+.2f} (paired interval of the difference [{low:+.2f}, {high:+.2f}]), "
            f"and {star:+.2f} at tau*; its gain over the best expert has the interval [{gain_low:+.2f}, "
            f"{gain_high:+.2f}]. Stockfish itself, searching one ply, is the ladder's top rung (rated "
            f"{report['ladder_ratings'][STOCKFISH_RUNG][0]:.0f}).")


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


def train_models(scale: str | None = None, seed: int = 0) -> None:
    """The main run's model and its controls' models, with their games, trained two at a time before any of
    them is scored: trained first on its own, the main model would leave one core idle."""
    main = config_for(scale, seed)
    models = [main, *(ablation.model for ablation in ablations(main).values())]
    sweep(_train_in_worker, [dict(config=config) for config in models], n_jobs=2)


def _train_and_score(config: Ablation) -> None:
    ablation_run(config)  # in a worker: the result reaches the parent through the cache


def ablation_summary(config: Ablation, result: Result) -> dict:
    """An ablation's rewards as `reward_summary` gives them, with its model's probability of the
    reference's move and distance to the experts' mixture at tau = 1."""
    arrays = {name: value.numpy() for name, value in result.arrays.items()}
    taus = list(config.model.temperatures)
    found = reward_summary(arrays["expert"], arrays["model"], taus, config.model.tau_star)
    one, star = arrays["model"][taus.index(1.0)], arrays["model"][taus.index(config.model.tau_star)]
    return {**found, "gain_ci": found["reward_gain_ci"], "expert_error_rates": list(config.model.error_rates),
            "cooling_gain_ci": paired_interval(star - one),
            "reference_probability": float(arrays["reference_probability"].mean()),
            "tv_to_mixture": float(arrays["tv_to_mixture"].mean())}


def ablation_results(scale: str | None = None, seed: int = 0) -> dict[str, dict]:
    """Every ablation of the scale's main run, trained two at a time, summarised by name. The two scored
    on the main run's positions (the single expert and the random experts) also get their tau* reward
    against the main model's (`star_vs_committee_ci`) and the best expert's (`star_vs_best_expert_ci`),
    paired position by position."""
    main = config_for(scale, seed)
    found = ablations(main)
    position_rewards(main)  # judged here, once, before the workers score three controls on these positions
    sweep(_train_and_score, [dict(config=config) for config in found.values()], n_jobs=2)
    results = {name: ablation_run(config) for name, config in found.items()}  # from the cache the sweep filled
    report = {name: ablation_summary(found[name], result) for name, result in results.items()}
    taus = list(main.temperatures)
    main_arrays = run(main).arrays
    committee = main_arrays["model"].numpy()[taus.index(main.tau_star)]
    experts = main_arrays["expert"].numpy()
    best = experts[experts.mean(1).argmax()]
    for name in ("single_expert", "random_experts"):
        star = results[name].arrays["model"].numpy()[taus.index(main.tau_star)]
        report[name]["star_vs_committee_ci"] = paired_interval(star - committee)
        report[name]["star_vs_best_expert_ci"] = paired_interval(star - best)
    return report


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce transcendence` writes to transcendence.json: the main run's
    summary, and its ablations (`single_expert`, `no_head`, and `diversity` with the blind-spot
    committees' gains)."""
    scale = resolve_scale(scale)
    train_models(scale, seed)
    result = run(config_for(scale, seed))
    report = {"topic": NAME, "scale": scale, "seed": seed, **summary(result)}
    report["no_resign"] = played_out(config_for(scale, seed))
    found = ablation_results(scale, seed)
    report["single_expert"] = found["single_expert"]
    report["no_head"] = found.get("no_head")
    report["random_experts"] = found["random_experts"]
    report["diversity"] = {"diverse_gain_ci": found["diverse"]["gain_ci"], "shared_gain_ci": found["shared"]["gain_ci"],
                           "diverse": found["diverse"], "shared": found["shared"]}
    return report


def chess_config(result: Result) -> ChessConfig:
    return ChessConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in result.metrics["config"].items()})


def position(result: Result, index: int):
    """Held-out position `index` as a board with its move stack."""
    board = chess.Board()
    for uci in result.metrics["positions"][index]:
        board.push_uci(uci)
    return board


def gains_over_temperature_one(result: Result) -> np.ndarray:
    """Per held-out position: the model's expected reward at tau* minus at tau = 1."""
    config = chess_config(result)
    model = result.arrays["model"].numpy()
    taus = list(config.temperatures)
    return model[taus.index(config.tau_star)] - model[taus.index(1.0)]


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

def _ci(interval) -> str:
    return "[{:+.2f}, {:+.2f}]".format(*interval)


def _side(interval) -> str:
    """Where a 95% interval lies: "above" zero, "below" it, or "across" it."""
    return verdict({"ci": interval}, neither="across")


def page_values(report: dict) -> dict[str, str]:
    """The chapter's numbers and the sentences that interpret them, keyed by glue name (without the
    chapter's prefix), chosen from `reproduce`'s report so that the page says only what the run shows."""
    star = str(report["tau_star"])
    single, no_head, diversity = report["single_expert"], report["no_head"], report["diversity"]
    values = {
        "error_rates": ", ".join(f"{rate:.0%}" for rate in report["expert_error_rates"]),
        "best_expert": f"{report['best_expert_reward']:+.2f}",
        "expert_average": f"{report['expert_average_reward']:+.2f}",
        "reference_probability": f"{report['reference_probability']:.2f}",
        "mixture_probability": f"{report['mixture_reference_probability']:.2f}",
        "tv": f"{report['tv_to_mixture']:.2f}",
        "single_rate": f"{single['expert_error_rates'][0]:.0%}",
        "single_expert_reward": f"{single['best_expert_reward']:+.2f}",
        "single_star": f"{single['model_reward'][star]:+.2f}",
        "single_gain_ci": _ci(single["gain_ci"]),
        "single_vs_committee_ci": _ci(single["star_vs_committee_ci"]),
        "no_head_probability": f"{no_head['reference_probability']:.2f}",
        "no_head_tv": f"{no_head['tv_to_mixture']:.2f}",
        "no_head_one_ci": _ci(no_head["temperature_one_vs_average_ci"]),
        "no_head_gain_ci": _ci(no_head["gain_ci"]),
        "random_cooling_ci": _ci(report["random_experts"]["cooling_gain_ci"]),
        "random_gain_ci": _ci(report["random_experts"]["gain_ci"]),
        "random_star": f"{report['random_experts']['model_reward'][star]:+.2f}",
        "random_vs_main_ci": _ci(report["random_experts"]["star_vs_committee_ci"]),
        "random_vs_best_ci": _ci(report["random_experts"]["star_vs_best_expert_ci"]),
        "main_star": f"{report['model_reward'][star]:+.2f}",
        "cooling_ci": _ci(report["cooling_gain_ci"]),
        "diverse_gain_ci": _ci(diversity["diverse_gain_ci"]),
        "shared_gain_ci": _ci(diversity["shared_gain_ci"]),
        "with_gain": f"{report['positions_with_gain']:.0%}",
        "top_tenth": f"{report['gain_share_top_tenth']:.0%}",
        "ladder_plies": f"{report['mean_game_plies']:.0f}",
        "ladder_resigned": f"{report['resigned_share']:.0%}",
    }
    one = _side(report["temperature_one_vs_average_ci"])
    values["one_verdict"] = {
        "across": "The interval holds zero: at tau = 1 the model plays like an average expert, as the theorem "
                  "says of the mixture.",
        "above": "The interval lies above zero: at tau = 1 the model already earns more than the experts' average, "
                 "which the theorem does not predict for the mixture itself.",
        "below": "The interval lies below zero: at tau = 1 the model earns less than the experts' average."}[one]
    lower = report["reference_probability"] < report["mixture_reference_probability"]
    values["mixture_verdict"] = (
        "The model is not the mixture, though: it gives the reference's move "
        + ("less" if lower else "more") + " probability than the experts' pooled moves do, and its distribution "
        "is a total-variation distance of " + values["tv"] + " from theirs, on average over positions. "
        + ("Since its reward at tau = 1 still matches the experts' average, the probability it takes from that "
           "move must go to better moves than the experts' random errors pick: two differences from the mixture "
           "that cancel in reward." if lower and one == "across" else
           "The reward at tau = 1 says how these differences add up."))
    single_side, versus = _side(single["gain_ci"]), _side(single["star_vs_committee_ci"])
    values["denoising_verdict"] = (
        ("One expert is enough: trained on the best expert's games alone, the cooled model beats that expert too. "
         if single_side == "above" else
         "Trained on the best expert's games alone, the cooled model does not beat that expert. ")
        + {"across": "On the same positions it earns as much as the three experts' model (the paired interval of "
                     "the difference holds zero): with errors that look like noise, cooling denoises, and no vote "
                     "among experts is needed for it.",
           "below": "On the same positions it earns less than the three experts' model: pooling the experts adds "
                    "something beyond denoising the best of them.",
           "above": "On the same positions it earns more than the three experts' model: the weaker experts' "
                    "noise costs more than their votes give."}[versus])
    diverse, shared = _side(diversity["diverse_gain_ci"]), _side(diversity["shared_gain_ci"])
    values["diversity_verdict"] = (
        {"above": "With diverse blind spots the cooled model beats the best expert",
         "across": "With diverse blind spots the cooled model does not clearly beat the best expert",
         "below": "With diverse blind spots the cooled model falls below the best expert"}[diverse]
        + {"above": "; with a shared blind spot, which is one expert's errors three times over, it does too. ",
           "across": "; with a shared blind spot, which is one expert's errors three times over, it does not "
                     "(the interval holds zero). ",
           "below": "; with a shared blind spot, which is one expert's errors three times over, it falls below "
                    "the best expert. "}[shared]
        + ("Errors a model can learn are not removed by cooling: only a vote among experts who err differently "
           "removes them, which is the theorem's diversity condition, measured."
           if diverse == "above" and shared != "above" else
           "This is not the clean picture of the theorem's diversity condition; the intervals above say where "
           "it breaks."))
    values["random_verdict"] = {
        "above": "Cooling still gains: with nothing to vote on and nothing to denoise, the model's own preferences "
                 "among moves are better than chance, so part of what cooling gains in the main run need not come "
                 "from the experts at all.",
        "across": "Cooling gains nothing measurable here, so the main run's gain does not come from the model's own "
                  "preferences among moves.",
        "below": "Cooling loses reward here: the model's own preferences among moves are worse than chance, so they "
                 "do not explain the main run's gain."}[_side(report["random_experts"]["cooling_gain_ci"])]
    values["random_level_verdict"] = {
        "below": "Its preferences alone do not reach the best expert: beating the best expert takes the experts' "
                 "games.",
        "across": "Its preferences alone bring it level with the best expert, within the interval: the experts' "
                  "games are what lifts the main model above the best expert, by the margin measured above.",
        "above": "Its preferences alone beat the best expert: in this setting, beating the best expert does not "
                 "need the experts' games, and the headline result says less than it seems."}[
        _side(report["random_experts"]["star_vs_best_expert_ci"])]
    head_side = _side(no_head["gain_ci"])
    values["no_head_verdict"] = (
        ("Without the head the cooled model still beats the best expert, so transcendence here does not come from "
         "the head; " if head_side == "above" else
         "Without the head the cooled model no longer beats the best expert: here transcendence needs the head; ")
        + (f"with it, the model at tau = 1 is closer to the experts' mixture (total-variation distance {values['tv']} "
           f"against {values['no_head_tv']} without)." if report["tv_to_mixture"] < no_head["tv_to_mixture"] else
           f"and the head does not bring the model at tau = 1 closer to the experts' mixture (total-variation "
           f"distance {values['tv']} with it, {values['no_head_tv']} without)."))
    ratings, experts = report["model_rating"], report["expert_ratings"]
    values["rating_verdict"] = (
        "above every expert's interval" if ratings[star][1] > max(e[2] for e in experts) else
        "not clearly above every expert (the intervals overlap)")
    values["ladder_verdict"] = (
        "Most ladder games end by resignation, so the ratings mostly measure who gives away material first, "
        "which is also what the material judge rewards." if report["resigned_share"] >= 0.5 else
        "Most ladder games are played out or adjudicated at the move limit rather than resigned.")
    out = list(report["no_resign"].values())  # the model at tau = 1, at tau*, the best expert
    values["played_out_plies"] = f"{np.mean([player['mean_game_plies'] for player in out]):.0f}"
    values["played_out_one"], values["played_out_star"], values["played_out_best"] = (
        f"{player['score']:.2f}" for player in out)
    star_scores, best_scores = np.array(out[1]["scores"]), np.array(out[2]["scores"])
    half = 1.96 * np.sqrt(star_scores.var(ddof=1) / len(star_scores) + best_scores.var(ddof=1) / len(best_scores))
    difference = star_scores.mean() - best_scores.mean()
    interval = [difference - half, difference + half]
    values["played_out_difference_ci"] = _ci(interval)
    values["played_out_verdict"] = {
        "above": "When nobody resigns, the cooled model still scores more than the best expert (95% interval of the "
                 "difference " + values["played_out_difference_ci"] + ").",
        "across": "When nobody resigns, the cooled model's score and the best expert's are not separated (95% "
                  "interval of the difference " + values["played_out_difference_ci"] + ").",
        "below": "When nobody resigns, the cooled model scores less than the best expert (95% interval of the "
                 "difference " + values["played_out_difference_ci"] + ")."}[_side(interval)]
    values["gain_spread_verdict"] = (
        "Most positions gain, so the advantage is spread out, not concentrated in a minority of positions as "
        "the paper finds for human experts. That follows from how our experts err: their noise is planted on a "
        "fixed share of all positions alike, while a human's mistakes gather in hard positions."
        if report["positions_with_gain"] >= 0.5 else
        "A minority of positions carries the gain, as the paper finds for human experts.")
    return values
