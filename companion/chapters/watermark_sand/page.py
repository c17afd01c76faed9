"""Watermarks in the sand: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. The sentences that interpret a result are chosen here from the
measurement, so the page cannot claim what its run did not show.
"""

from __future__ import annotations

import numpy as np

from companion.core.prose import Claim, bracket, reproduced_table, settings_table, span
from companion.core.stats import mean_interval, verdict

from .analysis import per_prompt
from .experiment import QUALITY_SLACK
from .watermarks import SCHEMES

SCHEME_NAMES = {"kgw": "KGW", "unigram": "Unigram", "exp": "EXP"}
SETTINGS = {"prompt_length": ("prompt", "words"), "new_tokens": ("continuation", "words"),
            "texts": ("prompts", "per scheme"), "plain_per_prompt": ("unwatermarked continuations", "per prompt"),
            "gamma": ("green share $\\gamma$", ""), "delta": ("green bias $\\delta$", "")}
WALK_SETTINGS = {"steps": ("walk steps", ""), "span": ("span rewritten", "tokens"),
                 "candidates": ("fillings sampled", "per step"), "temperature": ("fill temperature", ""),
                 "lookahead": ("tokens read on the right", ""), "tolerance": ("quality tolerance $\\tau$", "")}
MOST = 0.5  # a walk "removes" a scheme's mark when it erases it from more than this share of the texts


def _names(report: dict) -> list[str]:
    return [attacker["name"] for attacker in report["models"]["attackers"]]  # the strongest first


def told_apart(report: dict, auc: float) -> bool:
    """Whether a discriminator AUC is above every AUC of the null draws (two unwatermarked samples):
    a one-sided test at level 1 / (NULL_DRAWS + 1)."""
    return auc > report["plain"]["discriminator_null_max"]


def _auc_words(report: dict, measured: dict) -> str:
    auc = measured["discriminator_auc"]
    return f"{'told apart' if told_apart(report, auc) else 'not told apart'} from unwatermarked text (AUC {auc:.2f})"


def _strongest_walks(report: dict) -> dict[str, dict]:
    return {scheme: report[scheme][_names(report)[0]]["walk"] for scheme in SCHEMES}


def _per_scheme(values: dict[str, str]) -> str:
    return ", ".join(f"{SCHEME_NAMES[scheme]} {value}" for scheme, value in values.items())


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    walks = _strongest_walks(report)
    erased = {scheme: walk["erased"] for scheme, walk in walks.items()}
    removed = sum(share > MOST for share in erased.values())
    apart = sum(told_apart(report, walk["discriminator_auc"]) for walk in walks.values())
    differences = [report["walk_against_regeneration"][name]["difference"] for name in _names(report)]
    beats = sum(verdict(d) == "above" for d in differences)
    loses = sum(verdict(d) == "below" for d in differences)
    return [
        Claim("A random walk of small edits, proposed by models weaker than the watermarked one and filtered by a "
              "quality oracle, removes the watermark of every scheme.",
              "erased by the strongest attacker's walk: " + _per_scheme({s: f"{v:.0%}" for s, v in erased.items()}),
              "reproduced" if removed == len(SCHEMES) else "partly" if removed else "not reproduced"),
        Claim("The attack keeps the text's quality (only minor degradation).",
              f"a discriminator tells the walked texts from unwatermarked ones for {apart} of {len(SCHEMES)} schemes",
              "reproduced" if not apart else "departs" if apart == len(SCHEMES) else "partly"),
        Claim("An attacker that writes worse than the watermarked model gains by walking rather than by rewriting "
              "the text itself (our control: each attacker regenerating).",
              f"the walk beats regeneration for {beats} of {len(differences)} attackers, loses for {loses}",
              "reproduced" if beats == len(differences) else "departs" if loses == len(differences) else
              "partly" if beats else "not reproduced"),
    ]


def world(report: dict) -> str:
    """The models: are the attackers weaker than the generator, and the oracle?"""
    models = report["models"]
    weaker = all(a["loss"] > models["generator_loss"] for a in models["attackers"])
    oracle = ("below the generator's: the attacker's judge of quality models the text better than the watermarked "
              "model does (the paper's argument grants the attacker a quality oracle; only the rewrites must come from "
              "a weaker model)" if models["oracle_loss"] < models["generator_loss"] else
              "above the generator's: the oracle, too, is weaker than the watermarked model")
    return (f"{'Every' if weaker else 'Not every'} attacker's held-out loss is above the generator's, and the quality "
            f"oracle's is {oracle}.\n\n" + settings_table(report["config"], SETTINGS))


def quality_setting(report: dict) -> str:
    null = report["plain"]["discriminator_null"]
    return (f"The discriminator's control is run {len(null)} times with one unwatermarked continuation of each prompt, "
            f"drawn at random, in the place of the set: its AUC then ranges over {span(null)}. A set counts as "
            "*told apart* only when its AUC is above all of these.\n")


def detection(report: dict) -> str:
    """Detection, false positives, and what each watermark costs in quality."""
    costs = {s: f"{report[s]['watermarked']['delta_nll']:+.2f} (95% interval "
                f"{bracket(report[s]['watermarked']['delta_nll_ci'])})" for s in SCHEMES}
    exp_apart = told_apart(report, report["exp"]["watermarked"]["discriminator_auc"])
    return ("Each detector finds its watermark in the watermarked texts ("
            + _per_scheme({s: f"{report[s]['detect_rate']:.0%}" for s in SCHEMES})
            + ") and flags " + _per_scheme({s: f"{report[s]['false_positive_rate']:.0%}" for s in SCHEMES})
            + f" of the {report['kgw']['unwatermarked_texts']} unwatermarked continuations of the same prompts. "
            "What the watermark costs: the texts are " + _per_scheme({s: _auc_words(report, report[s]["watermarked"])
                                                                    for s in SCHEMES})
            + "; the judge's NLL difference is " + _per_scheme(costs) + " nats per token (the held-back "
            f"unwatermarked texts come out at AUC {report['plain']['discriminator_auc']:.2f}). "
            + ("The classifier tells even EXP's texts apart, although EXP leaves each token's distribution unchanged; "
               "this chapter does not measure why (every text follows a stretch of the same key of 256 rows, so texts "
               "share choices; that is one candidate).\n" if exp_apart else
               "EXP's texts are not told apart, as a scheme that leaves each token's distribution unchanged should "
               "not be.\n"))


def walk_setting(report: dict) -> str:
    names = _names(report)
    accepted = ", ".join(f"{span([report[s][name]['acceptance_rate'] for s in SCHEMES], '.0%')} of the {role}'s"
                         for name, role in zip(names, ("strongest attacker", "middle one", "weakest one")))
    return (settings_table(report["config"]["walk"], WALK_SETTINGS)
            + f"\nThe oracle rejects many rewrites: it accepted {accepted} rewrites (the range over the three "
              "schemes).\n")


def traces(report: dict) -> str:
    walks, names = _strongest_walks(report), _names(report)
    weakest = {s: f"{report[s][names[-1]]['walk']['erased']:.0%}" for s in SCHEMES}
    return (f"The detection score of every watermarked text along the strongest attacker's walk ({names[0]}; thin "
            "lines) and the median (thick), with the threshold dashed. At the end the walk has brought "
            + _per_scheme({s: f"{w['erased']:.0%}" for s, w in walks.items()}) + " of the texts under the threshold, "
            "after changing " + _per_scheme({s: f"{w['changed_fraction']:.0%}" for s, w in walks.items()})
            + f" of their tokens. The weakest attacker's walk ({names[-1]}) erased " + _per_scheme(weakest) + ".\n")


def ceiling(report: dict) -> str:
    fresh = report["fresh_sample_kept"]
    return (f"A text counts as *erased with its quality kept* when the detector no longer flags it and the judge's NLL "
            f"per token is at most {QUALITY_SLACK} above the watermarked original's. The criterion compares single "
            "texts, whose NLL varies from text to text, so even a perfect rewrite fails it often: a fresh "
            f"unwatermarked sample from the generator itself passes it for {fresh['mean']:.0%} of the texts "
            f"({bracket(fresh, '.0%')}), the ceiling drawn in the figure.\n")


def versus(report: dict) -> str:
    """Walk against regeneration, per attacker."""
    names, compared = _names(report), report["walk_against_regeneration"]
    parts = []
    for name in names:
        c = compared[name]
        side = verdict(c["difference"], above="beats", below="loses to", neither="is not separated from")
        walk_auc = np.mean([report[s][name]["walk"]["discriminator_auc"] for s in SCHEMES])
        again_auc = np.mean([report[s][name]["regeneration"]["discriminator_auc"] for s in SCHEMES])
        parts.append(f"for {name}, the walk {side} regeneration: {c['walk']['mean']:.0%} of texts erased with the "
                     f"quality kept against {c['regeneration']['mean']:.0%} (difference "
                     f"{bracket(c['difference'], '+.0%')}), discriminator AUC {walk_auc:.2f} after the walk against "
                     f"{again_auc:.2f} regenerated")
    every = all(verdict(compared[name]["difference"]) == "above" for name in names)
    return ("The table and the figure average over the three schemes (per prompt, 95% intervals over the prompts): "
            + "; ".join(parts) + ". "
            + ("For every attacker the walk erases the mark with the quality kept on more texts than regenerating "
               "does: an attacker that cannot write as well as the generator does better by editing the watermarked "
               "text than by replacing it, which is the paper's point in miniature.\n" if every else
               "The walk does not beat regeneration for every attacker, so this run does not show the paper's point "
               "that an attacker gains by walking rather than rewriting.\n"))


def quality_reading(report: dict) -> str:
    """After the strongest attacker's walk: does a referee tell the texts apart?"""
    walks = _strongest_walks(report)
    apart = [told_apart(report, w["discriminator_auc"]) for w in walks.values()]
    erased = [w["erased"] for w in walks.values()]
    worse = all(w["delta_nll_ci"][0] > 0 for w in walks.values())
    measured = ("After the strongest attacker's walk, the texts are "
                + _per_scheme({s: _auc_words(report, w) for s, w in walks.items()})
                + "; the judge's NLL difference to unwatermarked text is "
                + _per_scheme({s: f"{w['delta_nll']:+.2f} ({bracket(w['delta_nll_ci'])})" for s, w in walks.items()})
                + " nats per token. ")
    if all(apart):
        return measured + ("So the walk does not keep the quality by a referee's measure: even after the strongest "
                           "attacker's walk the classifier tells the texts of every scheme from unwatermarked ones"
                           + (", and the judge finds them worse" if worse else "") + ". Here the experiment departs "
                           "from the paper, whose attack keeps the quality: with attackers this much weaker than the "
                           f"generator, it removes the mark from {span(erased, '.0%')} of the texts (by scheme) at a "
                           "price in quality.\n")
    if not any(apart):
        return measured + ("And the quality is kept: after the strongest attacker's walk the classifier cannot tell "
                           "the texts of any scheme from unwatermarked ones, as the paper's argument says.\n")
    return measured + ("The quality is kept for some schemes and not others: the classifier tells some schemes' walked "
                       "texts from unwatermarked ones and not the others', so the paper's claim holds here only in "
                       "part.\n")


def blind(report: dict) -> str:
    """The blind walk against the strongest attacker's, paired by prompt."""
    walks = _strongest_walks(report)
    blind_kept = per_prompt([report[s]["blind"]["erased_quality_kept_per_text"] for s in SCHEMES])
    walk_kept = per_prompt([w["erased_quality_kept_per_text"] for w in walks.values()])
    side = verdict(mean_interval(walk_kept - blind_kept), above="more texts than", below="fewer texts than",
                   neither="about as many texts as")
    unique = [report[s]["blind"]["unique_ratio"] for s in SCHEMES]
    repeats = "repeat themselves more" if max(unique) < report["plain"]["unique_ratio"] else "repeat themselves no more"
    return (f"The oracle accepted {span([report[s]['blind']['acceptance_rate'] for s in SCHEMES], '.0%')} of the blind "
            "walk's steps. It erased " + _per_scheme({s: f"{report[s]['blind']['erased']:.0%}" for s in SCHEMES})
            + " of the texts, and by the judge's NLL it kept the quality of "
            + _per_scheme({s: f"{report[s]['blind']['erased_quality_kept']:.0%}" for s in SCHEMES})
            + f" of them: by this measure the strongest attacker's walk erased with the quality kept {side} the blind "
              f"walk ({walk_kept.mean():.0%} against {blind_kept.mean():.0%}, paired by prompt). The per-text NLL is "
              "the weakest of the three measures, since a text can score well on it by being predictable; the "
              "others: the blind walk's texts are "
            + _per_scheme({s: _auc_words(report, report[s]["blind"]) for s in SCHEMES})
            + f", and they {repeats} than unwatermarked text (distinct tokens {span(unique)}, against "
              f"{report['plain']['unique_ratio']:.2f}).\n")


def paper(report: dict) -> str:
    weakest = _names(report)[-1]
    return (f"Here the weakest attacker's walk erased {report['kgw'][weakest]['walk']['erased']:.0%} of the KGW "
            f"texts and {report['exp'][weakest]['walk']['erased']:.0%} of the EXP texts.\n")


def alignment(report: dict) -> str:
    names, walks = _names(report), _strongest_walks(report)
    erased = [w["erased"] for w in walks.values()]
    walked = [told_apart(report, report[s][name]["walk"]["discriminator_auc"]) for s in SCHEMES for name in names]
    every = all(verdict(report["walk_against_regeneration"][name]["difference"]) == "above" for name in names)
    told = ("a classifier tells every walk's texts from unwatermarked ones" if all(walked) else
            "a classifier tells none of the walks' texts from unwatermarked ones" if not any(walked) else
            "a classifier tells some of the walks' texts from unwatermarked ones")
    return (f"In this chapter's small world, rewrites from models weaker than the watermarked one removed the mark "
            f"from {span(erased, '.0%')} of the texts (the strongest of three attackers, by scheme), and {told}; "
            f"walking {'beat' if every else 'did not beat'} rewriting from scratch for every attacker.\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "world": world(report),
            "quality_setting": quality_setting(report), "detection": detection(report),
            "walk_setting": walk_setting(report), "traces": traces(report), "ceiling": ceiling(report),
            "versus": versus(report), "quality": quality_reading(report), "blind": blind(report),
            "paper": paper(report),
            "alignment": alignment(report)}
