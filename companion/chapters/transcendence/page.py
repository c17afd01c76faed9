"""Transcendence: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. `verdicts(report)` holds the sentences that interpret a result, each
chosen from the measurement, so that the page says only what the run shows.
"""

from __future__ import annotations

import numpy as np

from companion.core.prose import Claim, reproduced_table
from companion.core.stats import verdict

from .players import ARROW_SHARE, RESIGN_MARGIN, RESIGN_PLIES, STOCKFISH_JUDGE_DEPTH, STOCKFISH_RUNG


def _ci(interval) -> str:
    return "[{:+.2f}, {:+.2f}]".format(*interval)


def _side(interval) -> str:
    """Where a 95% interval lies: "above" zero, "below" it, or "across" it."""
    return verdict({"ci": interval}, neither="across")


def _rating(triple) -> str:
    return "{:.0f} [{:.0f}, {:.0f}]".format(*triple)


def stockfish_sentence(report: dict) -> str:
    """What the second judge found, in words, for the chapter (or that it was absent)."""
    judged = report["stockfish"]
    if not judged:
        return ("Stockfish was not installed on the machine that built this page, so the material judge is the "
                "only one, and the ladder has no Stockfish rung.")
    low, high = judged["temperature_one_vs_average_ci"]
    gain_low, _ = judged["reward_gain_ci"]
    agrees = "Stockfish agrees." if gain_low > 0 and low <= 0 <= high else "Stockfish sees it differently."
    star = judged["model_reward"][str(report["tau_star"])]
    return (f"{agrees} Judged by its evaluation after each move (in pawns, from the mover's side), the model "
            f"earns {judged['model_reward']['1.0']:+.2f} at $\\tau = 1$ against the experts' average of "
            f"{judged['expert_average_reward']:+.2f} (paired interval of the difference {_ci([low, high])}), "
            f"and {star:+.2f} at $\\tau^*$; its gain over the best expert has the interval "
            f"{_ci(judged['reward_gain_ci'])}. Stockfish itself, searching one ply, is the ladder's top rung (rated "
            f"{report['ladder_ratings'][STOCKFISH_RUNG][0]:.0f}).")


def temperature_verdicts(report: dict) -> dict[str, str]:
    """At tau = 1: the model against the experts' average, and against their mixture."""
    one = _side(report["temperature_one_vs_average_ci"])
    lower = report["reference_probability"] < report["mixture_reference_probability"]
    return {
        "one": {"across": "The interval holds zero: at $\\tau = 1$ the model plays like an average expert, as the "
                          "theorem says of the mixture.",
                "above": "The interval lies above zero: at $\\tau = 1$ the model already earns more than the experts' "
                         "average, which the theorem does not predict for the mixture itself.",
                "below": "The interval lies below zero: at $\\tau = 1$ the model earns less than the experts' "
                         "average."}[one],
        "mixture": ("The model is not the mixture, though: it gives the reference's move "
                    + ("less" if lower else "more") + " probability than the experts' pooled moves do, and its "
                    f"distribution is a total-variation distance of {report['tv_to_mixture']:.2f} from theirs, on "
                    "average over positions. "
                    + ("Since its reward at $\\tau = 1$ still matches the experts' average, the probability it takes "
                       "from that move must go to better moves than the experts' random errors pick: two differences "
                       "from the mixture that cancel in reward." if lower and one == "across" else
                       "The reward at $\\tau = 1$ says how these differences add up."))}


def control_verdicts(report: dict) -> dict[str, str]:
    """What each control says: denoising, diversity, the model's own preferences, the head."""
    single, no_head, diversity = report["single_expert"], report["no_head"], report["diversity"]
    versus = _side(single["star_vs_committee_ci"])
    diverse, shared = _side(diversity["diverse_gain_ci"]), _side(diversity["shared_gain_ci"])
    return {
        "denoising": (("One expert is enough: trained on the best expert's games alone, the cooled model beats that "
                       "expert too. " if _side(single["gain_ci"]) == "above" else
                       "Trained on the best expert's games alone, the cooled model does not beat that expert. ")
                      + {"across": "On the same positions it earns as much as the three experts' model (the paired "
                                   "interval of the difference holds zero): with errors that look like noise, cooling "
                                   "denoises, and no vote among experts is needed for it.",
                         "below": "On the same positions it earns less than the three experts' model: pooling the "
                                  "experts adds something beyond denoising the best of them.",
                         "above": "On the same positions it earns more than the three experts' model: the weaker "
                                  "experts' noise costs more than their votes give."}[versus]),
        "diversity": ({"above": "With diverse blind spots the cooled model beats the best expert",
                       "across": "With diverse blind spots the cooled model does not clearly beat the best expert",
                       "below": "With diverse blind spots the cooled model falls below the best expert"}[diverse]
                      + {"above": "; with a shared blind spot, which is one expert's errors three times over, it does "
                                  "too. ",
                         "across": "; with a shared blind spot, which is one expert's errors three times over, it does "
                                   "not (the interval holds zero). ",
                         "below": "; with a shared blind spot, which is one expert's errors three times over, it falls "
                                  "below the best expert. "}[shared]
                      + ("Errors a model can learn are not removed by cooling: only a vote among experts who err "
                         "differently removes them, which is the theorem's diversity condition, measured."
                         if diverse == "above" and shared != "above" else
                         "This is not the clean picture of the theorem's diversity condition; the intervals above say "
                         "where it breaks.")),
        "no_head": _no_head_verdict(report, no_head),
        **_random_verdicts(report["random_experts"]),
    }


def _no_head_verdict(report: dict, no_head: dict) -> str:
    closer = report["tv_to_mixture"] < no_head["tv_to_mixture"]
    return (("Without the head the cooled model still beats the best expert, so transcendence here does not come "
             "from the head; " if _side(no_head["gain_ci"]) == "above" else
             "Without the head the cooled model no longer beats the best expert: here transcendence needs the head; ")
            + (f"with it, the model at $\\tau = 1$ is closer to the experts' mixture (total-variation distance "
               f"{report['tv_to_mixture']:.2f} against {no_head['tv_to_mixture']:.2f} without)." if closer else
               f"and the head does not bring the model at $\\tau = 1$ closer to the experts' mixture (total-variation "
               f"distance {report['tv_to_mixture']:.2f} with it, {no_head['tv_to_mixture']:.2f} without)."))


def _random_verdicts(random: dict) -> dict[str, str]:
    return {
        "random": {"above": "Cooling still gains: with nothing to vote on and nothing to denoise, the model's own "
                            "preferences among moves are better than chance, so part of what cooling gains in the main "
                            "run need not come from the experts at all.",
                   "across": "Cooling gains nothing measurable here, so the main run's gain does not come from the "
                             "model's own preferences among moves.",
                   "below": "Cooling loses reward here: the model's own preferences among moves are worse than chance, "
                            "so they do not explain the main run's gain."}[_side(random["cooling_gain_ci"])],
        "random_level": {"below": "Its preferences alone do not reach the best expert: beating the best expert takes "
                                  "the experts' games.",
                         "across": "Its preferences alone bring it level with the best expert, within the interval: "
                                   "the experts' games are what lifts the main model above the best expert, by the "
                                   "margin measured above.",
                         "above": "Its preferences alone beat the best expert: in this setting, beating the best "
                                  "expert does not need the experts' games, and the headline result says less than it "
                                  "seems."}[_side(random["star_vs_best_expert_ci"])]}


def played_out_verdict(report: dict) -> dict[str, str]:
    """Games with no resignation: the model at tau*, against the best expert, with a 95% interval."""
    players = list(report["no_resign"].values())  # the model at tau = 1, at tau*, the best expert
    star, best = np.array(players[1]["scores"]), np.array(players[2]["scores"])
    half = 1.96 * np.sqrt(star.var(ddof=1) / len(star) + best.var(ddof=1) / len(best))
    interval = [star.mean() - best.mean() - half, star.mean() - best.mean() + half]
    outcome = {"above": "When nobody resigns, the cooled model still scores more than the best expert",
               "across": "When nobody resigns, the cooled model's score and the best expert's are not separated",
               "below": "When nobody resigns, the cooled model scores less than the best expert"}[_side(interval)]
    return {"plies": f"{np.mean([p['mean_game_plies'] for p in players]):.0f}",
            "scores": [f"{p['score']:.2f}" for p in players], "interval": interval,
            "verdict": f"{outcome} (95% interval of the difference {_ci(interval)})."}


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    star = str(report["tau_star"])
    ratings, experts = report["model_rating"], report["expert_ratings"]
    above_every = ratings[star][1] > max(e[2] for e in experts)
    gain, one = _side(report["reward_gain_ci"]), _side(report["temperature_one_vs_average_ci"])
    diverse, shared = _side(report["diversity"]["diverse_gain_ci"]), _side(report["diversity"]["shared_gain_ci"])
    spread = report["positions_with_gain"]
    return [
        Claim("A model trained on the games of several experts can beat every one of them when it samples at low "
              "temperature.",
              f"gain over the best expert at $\\tau^*$ {_ci(report['reward_gain_ci'])} pawns per move; rating at "
              f"$\\tau^*$ {_rating(ratings[star])} against the best expert's {_rating(max(experts))}",
              "reproduced" if gain == "above" and above_every else "partly" if gain == "above" else
              "not reproduced"),
        Claim("Without cooling there is no transcendence: at $\\tau = 1$ the model earns the experts' average.",
              f"model minus the experts' average at $\\tau = 1$: {_ci(report['temperature_one_vs_average_ci'])}",
              "reproduced" if one == "across" else "departs"),
        Claim("Transcendence needs diverse experts: errors they share are repeated by the vote.",
              f"gain over the best expert with diverse blind spots {_ci(report['diversity']['diverse_gain_ci'])}, "
              f"with a shared one {_ci(report['diversity']['shared_gain_ci'])}",
              "reproduced" if diverse == "above" and shared != "above" else "partly" if diverse == "above" else
              "not reproduced"),
        Claim("The cold model's advantage is concentrated in a minority of positions.",
              f"cooling gains on {spread:.0%} of positions; the top tenth carries {report['gain_share_top_tenth']:.0%} "
              "of the gain",
              "reproduced" if spread < 0.5 else "departs"),
    ]


def players_reading(report: dict) -> str:
    rates = ", ".join(f"{rate:.0%}" for rate in report["expert_error_rates"])
    training, config = report["training"], report["config"]
    return (f"The {len(report['expert_error_rates'])} experts err on {rates} of positions. Their {training['games']} "
            f"games (about {training['mean_game_plies']:.0f} plies each) hold {training['examples']:,} expert moves, "
            f"of which {training['expert_reference_agreement']:.0%} are the reference player's move (dashed). The "
            f"model ({training['parameters']:,} parameters, {config['steps']} steps) ends with the reference's move as "
            f"its favourite on {report['reference_agreement']:.0%} of validation positions, far more often than any "
            "expert plays it: what it learned is the experts' *mode*. On held-out positions it gives that move a "
            f"probability of {report['reference_probability']:.2f} at $\\tau = 1$, against the "
            f"{report['mixture_reference_probability']:.2f} of the experts' pooled moves (each expert's errors spread "
            "over the legal moves, as a learner sees them).\n")


def toy_reading(report: dict) -> str:
    found = report["toy_scenarios"]
    noisy, diverse = found["one noisy expert"], found["diverse"]
    return (f"At $\\tau = 1$ every model sits exactly on its experts' average, as part 1 of the theorem says. Cooled, "
            f"the noisy expert's model climbs from {noisy['best_expert']:.3f} to {noisy['vote']:.3f} (denoising). The "
            f"diverse experts, each worth {diverse['best_expert']:.3f} at best, are combined into a vote worth "
            f"{diverse['vote']:.3f}: a gain of {report['toy']['diverse_gain']:+.3f} over the best of them. The experts "
            f"who share their errors get {report['toy']['shared_gain']:+.3f}: the vote repeats their common mistake "
            "and, by always choosing the mode, also loses the few lucky guesses they made there.\n")


def measurements(report: dict) -> str:
    """How reward and rating are measured, with the run's own numbers."""
    config = report["config"]
    return (f"Both at every temperature of a sweep fixed in advance, with the claims made about $\\tau^* = "
            f"{report['tau_star']:g}$, also fixed in advance. **Reward** is measured on {report['positions']} held-out "
            f"positions (one from each of as many fresh expert games): the best expert earns "
            f"{report['best_expert_reward']:+.2f} pawns per move, their average is "
            f"{report['expert_average_reward']:+.2f}. "
            "**Rating** comes from a ladder: the reference player with random-move rates of "
            f"{', '.join(f'{rate:.0%}' for rate in config['ladder'])}. The model at every temperature and each expert "
            f"play {config['ladder_games']} games against every rung; a side that is {RESIGN_MARGIN // 100} pawns or "
            f"more behind in material for {RESIGN_PLIES} plies in a row resigns.\n")


def headline(report: dict) -> str:
    star = str(report["tau_star"])
    said = temperature_verdicts(report)
    ratings = report["model_rating"]
    above = ratings[star][1] > max(e[2] for e in report["expert_ratings"])
    ladder = ("Most ladder games end by resignation, so the ratings mostly measure who gives away material first, "
              "which is also what the material judge rewards." if report["resigned_share"] >= 0.5 else
              "Most ladder games are played out or adjudicated at the move limit rather than resigned.")
    return (f"At $\\tau = 1$ the model earns {report['model_reward']['1.0']:+.2f} pawns per move against the experts' "
            f"average of {report['expert_average_reward']:+.2f}; the paired difference has the 95% interval "
            f"{_ci(report['temperature_one_vs_average_ci'])}. {said['one']} {said['mixture']} Cooled to $\\tau^*$ it "
            f"earns {report['model_reward'][star]:+.2f}, while the best expert earns "
            f"{report['best_expert_reward']:+.2f}: the paired gain over the best expert is "
            f"{_ci(report['reward_gain_ci'])}. On the ladder, the model is rated {_rating(ratings['1.0'])} at "
            f"$\\tau = 1$ (the best expert {_rating(max(report['expert_ratings']))}) and "
            f"{_rating(ratings[star])} at $\\tau^*$, "
            + ("above every expert's interval" if above else "not clearly above every expert (the intervals overlap)")
            + f"; the reference player it never saw is rated {report['ladder_ratings']['reference'][0]:.0f}. Ladder "
              f"games last {report['mean_game_plies']:.0f} plies on average and {report['resigned_share']:.0%} of them "
              f"end by resignation. {ladder}\n\n{stockfish_sentence(report)}\n")


def no_resign(report: dict) -> str:
    found = played_out_verdict(report)
    one, star, best = found["scores"]
    return (f"Resignation could decide ratings by itself, so the model at $\\tau = 1$ and at $\\tau^*$ and the best "
            f"expert also play the reference player with nobody resigning (games of about {found['plies']} plies): "
            f"they score {one}, {star} and {best}. {found['verdict']}\n")


def gain_spread(report: dict) -> str:
    spread = report["positions_with_gain"]
    said = ("Most positions gain, so the advantage is spread out, not concentrated in a minority of positions as the "
            "paper finds for human experts. That follows from how our experts err: their noise is planted on a fixed "
            "share of all positions alike, while a human's mistakes gather in hard positions." if spread >= 0.5 else
            "A minority of positions carries the gain, as the paper finds for human experts.")
    return (f"Cooling gains reward on {spread:.0%} of positions, and the top tenth of positions carry "
            f"{report['gain_share_top_tenth']:.0%} of the total gain. {said}\n")


def controls(report: dict) -> str:
    """The five controls, each with its numbers and verdict."""
    star = str(report["tau_star"])
    single, no_head, random = report["single_expert"], report["no_head"], report["random_experts"]
    said = control_verdicts(report)
    return (f"* **The best expert alone.** The model learns from the games of the expert who errs on "
            f"{single['expert_error_rates'][0]:.0%} of positions, and nobody else. Cooled, it earns "
            f"{single['model_reward'][star]:+.2f} against that expert's {single['best_expert_reward']:+.2f} (paired "
            f"gain {_ci(single['gain_ci'])}); against the three experts' model on the same positions, the paired "
            f"difference is {_ci(single['star_vs_committee_ci'])}. {said['denoising']}\n"
            "* **Errors a model can learn.** Each expert plays like the reference player but does not see captures of "
            "one group of pieces (pawns and knights; bishops and rooks; queens), and the experts play as a committee "
            "that picks one of them at random for each move. With a different blind spot for each expert, the cooled "
            f"model's gain over the best expert is {_ci(report['diversity']['diverse_gain_ci'])}; with the same blind "
            f"spot for all three, {_ci(report['diversity']['shared_gain_ci'])}. {said['diversity']}\n"
            f"* **The model without its relative head.** Trained on the main run's games, it gives the reference's "
            f"move a probability of {no_head['reference_probability']:.2f} at $\\tau = 1$ (total-variation distance to "
            f"the experts' mixture {no_head['tv_to_mixture']:.2f}); its difference to the experts' average at "
            f"$\\tau = 1$ is {_ci(no_head['temperature_one_vs_average_ci'])}, and cooled, its gain over the best "
            f"expert is {_ci(no_head['gain_ci'])}. {said['no_head']}\n"
            "* **Experts who always err.** Three experts who play a hashed random move in every position: their games "
            "hold no vote and nothing to denoise. Scored on the main run's positions, cooling this model changes its "
            f"reward by {_ci(random['cooling_gain_ci'])} pawns per move (paired interval; in the main run, "
            f"{_ci(report['cooling_gain_ci'])}). {said['random']} Cooled, it earns {random['model_reward'][star]:+.2f} "
            f"against the main model's {report['model_reward'][star]:+.2f} (paired difference "
            f"{_ci(random['star_vs_committee_ci'])}) and the best expert's {report['best_expert_reward']:+.2f} (paired "
            f"difference {_ci(random['star_vs_best_expert_ci'])}). {said['random_level']}\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "toy": toy_reading(report),
            "players": players_reading(report),
            "measurements": measurements(report), "headline": headline(report), "no_resign": no_resign(report),
            "gain_spread": gain_spread(report), "controls": controls(report),
            "illegal": (f"The favourite move before masking is illegal in {report['illegal_move_rate']:.0%} of "
                        "held-out positions.\n"),
            "judge": (f"Where Stockfish is installed it judges every move from a search {STOCKFISH_JUDGE_DEPTH} plies "
                      "deep, and plays on the ladder.\n"),
            "arrows": (f"Green arrows: the model's moves with at least {ARROW_SHARE:.0%} of its probability at "
                       "$\\tau^*$.\n")}
