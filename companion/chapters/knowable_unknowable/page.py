"""Knowable and unknowable: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. Every number and verdict word below is read from the report that
`analysis.reproduce` writes.
"""

from __future__ import annotations

from companion.core.prose import Claim, reproduced_table, span

from .probes import WITHIN_FACT_SURE, WITHIN_FACT_UNSURE

MARGIN = 0.05  # the probe "beats" a baseline by at least this much AUC (one run, no interval over seeds)
NON_TRIVIAL = 0.6  # an AUC at least this far from a coin flip's 0.5 counts as non-trivial


def rule_verdict(metrics: dict) -> str:
    """What the rule baseline says about the probe on the main task, in words."""
    gap = metrics["probe_auc"] - metrics["rule_baseline_auc"]
    if gap < 0.02:
        return ("The rule alone does as well as the probe: in this world the label is essentially the rule "
                "that generated the data, and the probe's success on it shows that the small model's state "
                "encodes the rule, not that it knows which facts it lacks.")
    return (f"The probe does {gap:.2f} better than the rule alone, so its state carries more than the rule "
            "that generated the data.")


def within_fact_verdict(within: dict) -> str:
    """What the within-facts comparison says, in words: the probe against its control, the small model's
    entropy and the entity's frequency, each difference with its paired bootstrap interval."""
    probe, control = within["probe_auc"], within["control_auc"]
    reads = (f"The probe reads something the barely trained model's state does not ({probe:.2f} against "
             f"{control:.2f})" if probe > control + 0.05 else
             f"The probe does little better than the barely trained model's ({probe:.2f} against {control:.2f})")

    def against(name: str, label: str) -> str:
        low, high = within[f"probe_minus_{name}_ci"]
        outcome = "a clear lead" if low > 0 else "a clear deficit" if high < 0 else "no clear difference"
        return (f"against {label} ({within[f'{name}_auc']:.2f}) its AUC differs by [{low:+.2f}, {high:+.2f}] "
                f"(95% interval, entities resampled): {outcome}")

    entropy = against("entropy", "the small model's entropy")
    frequency = against("frequency", "the entity's frequency alone")
    sentences = [f"{reads}. {entropy[0].upper()}{entropy[1:]}; {frequency}."]
    rarest = within["within_frequency_thirds"][0] if within["within_frequency_thirds"] else None
    if rarest is not None:
        lead = rarest["probe_auc"] - rarest["frequency_auc"]
        word = "leads" if lead > 0.05 else "trails" if lead < -0.05 else "matches"
        sentences.append(f"Among the rarest third of entities the probe {word} frequency "
                         f"({rarest['probe_auc']:.2f} against {rarest['frequency_auc']:.2f}; the table below).")
    low, high = within["probe_and_frequency_minus_frequency_ci"]
    both, alone = within["probe_and_frequency_auc"], within["frequency_auc"]
    if low > 0:
        sentences.append(f"Given the frequency, the state still adds: a probe that sees both scores {both:.2f} "
                         f"against frequency's {alone:.2f} ([{low:+.2f}, {high:+.2f}]).")
    elif high < 0:
        sentences.append(f"A probe that sees the state and the frequency scores {both:.2f}, below frequency's "
                         f"{alone:.2f} ([{low:+.2f}, {high:+.2f}]): adding the state makes the fit worse, not "
                         "better.")
    else:
        sentences.append(f"A probe that sees the state and the frequency scores {both:.2f} against frequency's "
                         f"{alone:.2f} ([{low:+.2f}, {high:+.2f}]): no clear gain, so what the state tells "
                         "about which facts the large model knows is, as far as this measures, the entity's "
                         "frequency.")
    if within["probe_minus_entropy_ci"][0] <= 0:
        sentences.append("This is where our world parts from the paper, whose probes on real text predict where "
                         "the larger model is sure better than the small model's entropy does.")
    return " ".join(sentences)


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    probe, entropy = report["probe_auc"], report["entropy_baseline_auc"]
    within = report["within_fact"]
    low, high = within["probe_minus_entropy_ci"]
    return [
        Claim("A linear probe on the small model's state predicts the larger model's labels (epistemic or "
              "aleatoric) better than the small model's entropy.",
              f"AUC {probe:.2f} against the entropy's {entropy:.2f} on held-out entities (the rule that generated the "
              f"data: {report['rule_baseline_auc']:.2f})",
              "reproduced" if probe > entropy + MARGIN else "not reproduced"),
        Claim("Probes trained on one text domain generalise to others.",
              f"AUC {report['cross_domain_auc']:.2f} on the second format, {report['relation_transfer_auc']:.2f} on "
              "relations never fitted",
              "reproduced" if min(report["cross_domain_auc"], report["relation_transfer_auc"]) > entropy else
              "partly" if max(report["cross_domain_auc"], report["relation_transfer_auc"]) > entropy else
              "not reproduced"),
        Claim("A fully unsupervised method (a candidate answer shown in context) reaches non-trivial accuracy.",
              f"AUC {report['unsupervised_auc']:.2f} with no labels", "reproduced"
              if report["unsupervised_auc"] >= NON_TRIVIAL else "not reproduced"),
        Claim("On which facts the larger model knows, the probe reads more than the small model's entropy.",
              f"probe minus entropy within facts: [{low:+.2f}, {high:+.2f}]; probe minus the entity's frequency "
              "[{:+.2f}, {:+.2f}]".format(*within["probe_minus_frequency_ci"]),
              "reproduced" if low > 0 else "departs" if high < 0 else "not reproduced"),
    ]


def world(report: dict) -> str:
    w = report["world"]
    return (f"At this scale the world has {w['entities']} entities in {w['classes']} classes (Zipf exponent "
            f"{w['zipf_exponent']:g}), {w['relations']} relations in {w['groups']} groups and {w['values']} values, so "
            f"{w['facts']} facts to learn; relations draw from {w['support_min']} to {w['support_max']} values. A "
            f"document is {w['sentences']} sentences, and {w['second_format_share']:.0%} of the training documents "
            f"use the second format. The chance slots' entropy is {w['chance_entropy_smallest']:.1f} nats on average "
            f"for the relations with {w['support_min']} values and {w['chance_entropy_largest']:.1f} for those with "
            f"{w['support_max']}.\n")


def models(report: dict) -> str:
    config, found = report["config"], report["models"]
    small, large = found["small"], found["large"]
    return (f"The small model has {config['small_layers']} layers of width {config['small_width']} "
            f"({small['parameters']:,} parameters, {small['wall_seconds']:.0f} s for {config['small_steps']} steps); "
            f"the large one {config['large_layers']} layers of width {config['large_width']} "
            f"({large['parameters']:,} parameters, {large['wall_seconds']:.0f} s), "
            f"{large['parameters'] / small['parameters']:.0f} times as many parameters. The control is the small "
            f"architecture after {config['control_steps']} steps.\n")


def labels(report: dict) -> str:
    config, labelled, recall = report["config"], report["labelled"], report["proxy_recall"]
    values = report["proxy_agreement_values"]
    said = ("when it speaks about a value it is almost always right" if values >= 0.95 else
            "it is right on most of them" if values >= 0.8 else "it is wrong on many of them")
    return (f"The thresholds: the small model's entropy at least {config['min_small_entropy']:g} nats; epistemic "
            f"where the large model's is below {config['max_large_entropy']:g}, aleatoric where the two differ by at "
            f"most {config['aleatoric_tolerance']:g}. On {config['eval_documents']:,} fresh documents "
            f"({labelled['tokens']:,} tokens) the rule labels {labelled['epistemic']:,} tokens epistemic and "
            f"{labelled['aleatoric']:,} aleatoric. The large model's labels agree with the truth on "
            f"{report['proxy_agreement']:.1%} of the labelled tokens. Many of those are relation tokens, always chance "
            f"and uncertain to both models, which are easy to call; on the {report['labelled_values']:,} labelled "
            f"value tokens, where a fact and a chance slot look alike, the labels agree with the truth on "
            f"{values:.1%}: {said}. But it is silent on much: of the tokens that were knowable and where the small "
            f"model was unsure, it labels {recall['epistemic']:.0%} epistemic, {recall['aleatoric']:.0%} aleatoric, "
            f"and leaves {recall['neither']:.0%} unlabelled. A larger stand-in is a precise but partial judge, and "
            "the probe below learns only from the part it judges.\n")


def entropy_reading(report: dict) -> str:
    auc, means = report["entropy_baseline_auc"], report["mean_small_entropy"]
    overlap = "overlap heavily" if auc < 0.7 else "overlap" if auc < 0.8 else "are largely apart"
    return (f"On the {report['n_test']:,} held-out examples the two histograms {overlap}: the small model's mean "
            f"entropy is {means['epistemic']:.2f} nats on the facts it lacks and {means['aleatoric']:.2f} on chance. "
            f"The best threshold on its entropy, in whichever direction works better, reaches an AUC of {auc:.2f}, "
            "where 0.5 is a coin flip.\n")


def probe(report: dict) -> str:
    return (f"The probe is fitted on {report['n_train']:,} examples from format-A documents about "
            f"{report['config']['train_share']:.0%} of the entities. It reaches an AUC of {report['probe_auc']:.2f} on "
            f"held-out entities, {report['probe_auc'] - report['entropy_baseline_auc']:.2f} above the entropy "
            f"baseline. Scored against the *true* labels rather than the large model's, its AUC is "
            f"{report['probe_true_label_auc']:.2f}.\n")


def controls(report: dict) -> str:
    shuffled = report["shuffled_refit_aucs"]
    farthest = max(abs(a - 0.5) for a in shuffled)
    refits = ("Single refits land well away from 0.5, in either direction: the features carry the label's axis so "
              "plainly that even a fit to noise lines up with it one way or the other, though on average it learns "
              "nothing." if farthest > 0.15 else
              "Every refit stays near 0.5: without the labels the probe learns nothing about them.")
    return (f"A probe on the same architecture after only {report['config']['control_steps']} training steps, fitted "
            f"and tested on the same examples, reaches {report['control_probe_auc']:.2f}: what an almost untrained "
            f"network's features reveal about the label by themselves. Refitted on the training examples with their "
            f"labels shuffled, {len(shuffled)} times, the probe reaches {span(shuffled)} (mean "
            f"{report['shuffled_refit_auc']:.2f}). {refits} And the rule itself, with no network at all: each test "
            "token scored by the share of epistemic training labels among tokens of its slot, class and relation, "
            f"reaches {report['rule_baseline_auc']:.2f}. {rule_verdict(report)}\n")


def within(report: dict) -> str:
    found, config = report["within_fact"], report["config"]
    return (f"Fact slots whose value the small model is unsure of (entropy at least {config['min_small_entropy']:g}), "
            f"labelled by whether the large model knows the fact (entropy below {WITHIN_FACT_SURE}) or not (at least "
            f"{WITHIN_FACT_UNSURE}), scored on the held-out entities ({found['n']:,} tokens, "
            f"{found['known_share']:.0%} of them known). {within_fact_verdict(found)}\n")


def bands(report: dict) -> str:
    found = report["entropy_bands"]
    probe, entropy_auc = min(b["probe_auc"] for b in found), max(b["entropy_auc"] for b in found)
    said = ("on the fact-or-chance question the probe's lead does not come from tokens that entropy already "
            "separates" if probe > entropy_auc + 0.1 else "in some band entropy comes within 0.1 of the probe")
    return (f"In every band the probe reaches at least {probe:.2f} and the entropy at most {entropy_auc:.2f} (in "
            f"whichever direction works better): {said}.\n")


def transfer(report: dict) -> str:
    aucs = report["relation_transfer_aucs"]
    seen = "which relations it has seen matters" if max(aucs) - min(aucs) > 0.1 else \
        "about the same whichever relations it has seen"
    return (f"On format-B documents about the held-out entities ({report['n_transfer']:,} examples), the same probe "
            f"reaches an AUC of {report['cross_domain_auc']:.2f}. Fitted on the sentences of half the relations and "
            f"tested on the others' (about {report['relation_transfer_n']:,} examples), the probe reaches "
            f"{span(aucs)} over {len(aucs)} random halvings of the relations (mean "
            f"{report['relation_transfer_auc']:.2f}): {seen}.\n")


def in_context(report: dict) -> str:
    return (f"With no labels at all, the shift separates the two kinds on the held-out value tokens "
            f"({report['n_in_context']:,} of them) with an AUC of {report['unsupervised_auc']:.2f} "
            f"({report['unsupervised_true_label_auc']:.2f} against the true labels).\n")


def alignment(report: dict) -> str:
    found = report["within_fact"]
    gap = report["probe_auc"] - report["rule_baseline_auc"]
    rule = ("is matched by the rule that generated the data" if gap < 0.02 else
            f"does only {gap:.2f} better than the rule that generated the data")
    low, high = found["probe_minus_entropy_ci"]
    versus = ("better than the small model's own entropy" if low > 0 else "worse than the small model's own entropy"
              if high < 0 else "no better than the small model's own entropy")
    low, high = found["probe_and_frequency_minus_frequency_ci"]
    beyond = ("adds something to what the entity's frequency tells" if low > 0 else
              "falls short of the entity's frequency even when given it" if high < 0 else
              "adds nothing clear to what the entity's frequency tells")
    return (f"In this world the linear read-out that separates the large model's labels so well {rule}, and on the "
            f"harder question of which facts the model lacks it does {versus}, and {beyond}.\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "world": world(report), "models": models(report),
            "labels": labels(report), "entropy": entropy_reading(report), "probe": probe(report),
            "controls": controls(report), "within": within(report), "bands": bands(report),
            "transfer": transfer(report), "in_context": in_context(report), "alignment": alignment(report)}
