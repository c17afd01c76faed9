"""Margin features: every sentence, table and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. Every number and verdict word below is read from the report that
`analysis.reproduce` writes.
"""

from __future__ import annotations

from companion.core.prose import Claim, bracket, count, reproduced_table, span

from .analysis import total_variation
from .experiment import GROUP_DEGREES, SINGLE, isotypic_components


def certificate_table(report: dict):
    """The theory's maximum, the explicit network's margin and the trained network's, per task."""
    from companion.core.tables import Table

    names = {"modular": "modular addition", "parity": "sparse parity", "S3": "S3", "S4": "S4"}
    return Table([{"task": names[task], "theory's maximum": row["theory"], "explicit network": row["constructed"],
                   "explicit / theory": row["constructed"] / row["theory"], "trained network": row["trained"],
                   "trained / theory": row["trained"] / row["theory"]} for task, row in report.items()], digits=6)


def norm_share_table(groups: dict):
    """Per group and representation: the trained network's share of the norm against the theory's."""
    from companion.core.tables import Table

    rows = []
    for name, group in groups.items():
        degree = GROUP_DEGREES[name]
        dimensions = [c["dimension"] for c in isotypic_components(degree) if not c["trivial"]]
        columns = [("trained", group["norm_shares"])]
        if "norm_shares_before_continuation" in group:
            columns = [("trained", group["norm_shares_before_continuation"]),
                       ("after continuing", group["norm_shares"])]
        for i, d in enumerate(dimensions):
            rows.append({"group": name, "representation dimension": d, "theory": group["theory_shares"][i],
                         **{label: shares[i] for label, shares in columns}})
    return Table(rows, digits=3)


def seed_table(seeds: dict):
    """Per run and seed: the margin against the maximum, one-feature neurons, and the structure gap."""
    from companion.core.tables import Table

    gaps = {"modular-addition": "norm moved to equalise frequencies", "sparse-parity": "|balance - 1|",
            "S3": "norm moved to the theory's shares", "S4": "norm moved to the theory's shares"}
    return Table([{"run": name, "seed": seed, "margin / maximum": block["margin_ratio"][i],
                   "one-feature share": block["feature_share"][i], "gap from the theorem's structure":
                   block["structure_gap"][i], "gap measured as": gaps[name]}
                  for name, block in seeds.items() for i, seed in enumerate(block["seeds"])], digits=4)


# A network attains the maximum, as the theorem's networks do, when its margin is ATTAINED of the maximum
# and (modular addition) at most EQUAL_SHARES of its norm would have to move to share it equally.
ATTAINED, EQUAL_SHARES = 0.99, 0.01
CERTIFIED = 1e-6  # an explicit network "attains" a formula within this relative deviation


def _configs(report: dict, name: str) -> dict:
    return report["configs"][name]


def _formed(report: dict, name: str) -> list[bool]:
    """Per seed, whether the run has the theorem's features: at least SINGLE of the neurons single-featured
    (for parity, that share of the norm on the support), and for modular addition every frequency used."""
    block = report["seeds"][name]
    formed = [share >= SINGLE for share in block["feature_share"]]
    if "covers_every_frequency" in block:
        formed = [f and covered for f, covered in zip(formed, block["covers_every_frequency"])]
    return formed


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    rows = []
    for name, claim, measure in (
            ("modular-addition", "Modular addition: every neuron of a maximum-margin network is a single frequency, "
             "and every frequency is used.", "single-frequency neurons covering every frequency"),
            ("sparse-parity", "Sparse parity: every neuron's input weights sit on the support.",
             f"at least {SINGLE:.0%} of the input norm on the support"),
            ("S4", "Finite groups: every neuron lives in one irreducible representation ($S_4$ shown; $S_3$ below).",
             "one-representation neurons")):
        formed = _formed(report, name)
        rows.append(Claim(claim, f"{measure} {count(sum(formed), len(formed))}", _share(sum(formed), len(formed))))
    ratios = report["seeds"]["modular-addition"]["margin_ratio"]
    attained = sum(ratio >= ATTAINED for ratio in ratios)
    rows.append(Claim("Training with a vanishing penalty reaches the maximum normalised margin $\\gamma^*$ (modular "
                      "addition).",
                      f"margin {span(ratios, '.3f')} of $\\gamma^*$ over seeds; at least {ATTAINED} of it "
                      f"{count(attained, len(ratios))}",
                      "reproduced" if attained == len(ratios) else "partly" if attained else "not reproduced"))
    deviation = max(abs(row["constructed"] / row["theory"] - 1) for row in report["certificates"].values())
    rows.append(Claim("The theory's maxima are attained by the networks it describes.",
                      f"explicit networks reach their formulas to a relative {deviation:.0e}",
                      "reproduced" if deviation < CERTIFIED else "not reproduced"))
    table = report["lookup_table"]
    rows.append(Claim("Margin, not accuracy, selects the features: a perfectly accurate network without them has a "
                      "smaller margin.",
                      f"a lookup table: accuracy {table['accuracy']:.0%}, single-frequency neurons "
                      f"{table['frac_single_freq']:.0%}, margin {table['margin_ratio']:.2f} of $\\gamma^*$",
                      "reproduced" if table["accuracy"] == 1 and table["margin_ratio"] < ATTAINED else
                      "not reproduced"))
    return rows


def _share(k: int, n: int) -> str:
    return "reproduced" if k == n else "partly" if k else "not reproduced"


def modular_setting(report: dict) -> str:
    config = _configs(report, "modular-addition")
    p = config["p"]
    return (f"With $p = {p}$ there are {p * p} pairs $(a, b)$, all of them in the training set: the question here is "
            "not generalisation but which of the many perfect classifiers training picks. The network has "
            f"{config['width']} neurons (the theorem needs at least $4(p-1) = {4 * (p - 1)}$), starts from small "
            f"Gaussian weights, and is trained for {config['steps']:,} steps with $\\lambda = "
            f"{config['regularisation']:.0e}$.\n")


def story(report: dict) -> str:
    """Accuracy first, then the features as the margin grows (the first seed)."""
    modular = report["modular_addition"]
    points = modular["story"]
    accurate, formed = points["first_perfect_accuracy"], points["features_formed"]
    when = (f"By step {formed['step']}, {formed['feature_share']:.0%} of them are single-frequency and the margin is "
            f"{formed['margin_ratio']:.2f} of the maximum." if formed else
            "The neurons never all become single-frequency in this run.")
    return (f"Training accuracy (dashed) is perfect by step {accurate['step']}, when {accurate['feature_share']:.0%} "
            f"of the neurons have a single frequency and the normalised margin is {accurate['margin_ratio']:.2f} of "
            "the theory's maximum. Nothing about accuracy changes after that, yet the network keeps changing: as "
            f"the margin grows (black), the neurons turn into single frequencies (blue). {when} At the end the "
            f"margin is {modular['margin_ratio']:.3f} of $\\gamma^*$ (on this seed; the section across seeds gives "
            f"the others) and {modular['frac_single_freq']:.0%} of the neurons put more than {SINGLE:.0%} of their "
            f"power on one frequency (on average {modular['mean_top_share']:.4f} of it).\n")


def frequencies(report: dict) -> str:
    modular = report["modular_addition"]
    shares = modular["frequency_norm_shares"]
    used = len(modular["freqs_covered"])
    return (f"{used} of the {modular['num_freqs']} frequencies are used"
            + (", as the theorem demands. " if used == modular["num_freqs"] else ", not all of them as the theorem "
               "demands. ")
            + "The theorem asks for more than use: in a maximum-margin network each frequency carries the same share "
            f"of the norm $\\sum_i \\|\\theta_i\\|^3$, here $1/{len(shares)} = {1 / len(shares):.4f}$. The trained "
            f"network's shares are {span(shares, '.4f')} (the largest minus the smallest is "
            f"{modular['frequency_norm_spread']:.1e} of their mean).\n")


def phase_reading(report: dict) -> str:
    modular, relu = report["modular_addition"], report["relu"]
    return (f"Across all neurons the median of $|\\theta_u + \\theta_v - \\theta_w|$ is "
            f"{modular['phase_error_median']:.1e} radians and the largest {modular['phase_error_max']:.1e}. The ReLU "
            "network, trained the same way (with weight decay, its natural penalty) but outside the theorem: its "
            f"median error is {relu['phase_error_median']:.3f} radians, its largest {relu['phase_error_max']:.3f}, "
            f"and {relu['phase_error_share_above_0.05']:.0%} of its neurons are more than 0.05 radians off.\n")


def lookup(report: dict) -> str:
    table, modular, relu = report["lookup_table"], report["modular_addition"], report["relu"]
    return (f"The lookup table, with {table['width']} neurons, reaches only {table['margin_ratio']:.2f} of the maximum "
            "margin: perfectly accurate, but a poor solution by the measure that training optimises. The ReLU network "
            f"is not covered by the theorem: on average {relu['mean_top_share']:.3f} of each neuron's power is at its "
            f"top frequency, against {modular['mean_top_share']:.4f} for $z^2$, because a rectified cosine is not a "
            "cosine. The theory's margin is for $z^2$, so the ReLU row has none to compare with.\n")


def parity_setting(report: dict) -> str:
    config = _configs(report, "sparse-parity")
    return (f"{config['n']} input bits, the label is the product of {config['k']} of them (the support $S$ is drawn at "
            f"random), and the activation is $z^k$ with $k = {config['k']}$. All {2 ** config['n']:,} inputs form the "
            f"training set; the network has {config['width']} neurons and "
            f"$\\lambda = {config['regularisation']:.0e}$.\n")


def parity(report: dict) -> str:
    run = report["parity"]
    balance = run["balance"]
    return (f"A share {run['frac_norm_on_support']:.4f} of the squared input-weight norm is on the support. Within a "
            "neuron the support weights have equal magnitudes (the median ratio of their standard deviation to "
            f"their mean, over the {run['active_neurons']} neurons the penalty left alive, is "
            f"{run['median_support_spread']:.1e}), and the output weights' median alignment with $(1,-1)$ is "
            f"{run['median_output_alignment']:.4f}. The theorem also fixes the balance between a neuron's two "
            "layers: each $|u_j|$ on the support equals $\\|w\\|$. The median ratio of the mean $|u_j|$ to $\\|w\\|$ "
            f"over the active neurons is {balance['median']:.4f}{_range(balance['min'], balance['max'])}. "
            f"The normalised margin is {run['margin_ratio']:.3f} of the theory's "
            f"$k!\\sqrt{{2\\,(k+1)^{{-(k+1)}}}} = {run['margin_theory']:.4f}$.\n")


def _range(low: float, high: float) -> str:
    """" (from 0.9999 to 1.0000)", or nothing where both ends print alike."""
    shown = span([low, high], ".4f")
    return f" (from {shown})" if " to " in shown else ""


def groups(report: dict) -> str:
    found = report["groups"]
    s3, s4 = found["S3"], found["S4"]
    return (f"{s3['frac_single_irrep']:.0%} of the neurons in $S_3$ and {s4['frac_single_irrep']:.0%} in $S_4$ put "
            f"more than {SINGLE:.0%} of their energy in one non-trivial component, and the least concentrated neuron "
            "still "
            f"puts {s3['top_share']['min']:.4f} ($S_3$) and {s4['top_share']['min']:.4f} ($S_4$) there. No neuron puts "
            f"more than {s3['max_trivial_share']:.1e} of its energy in the trivial component (the constants) in $S_3$, "
            f"{s4['max_trivial_share']:.1e} in $S_4$. The margins reach {s3['margin_ratio']:.3f} "
            f"($S_3$) and {s4['margin_ratio_before_continuation']:.3f} ($S_4$) of the theory's maximum.\n")


def s4_gap(report: dict) -> str:
    """Why S4 falls short: the norm sharing among representations, before and after continuing."""
    s4 = report["groups"]["S4"]
    before = total_variation(s4["norm_shares_before_continuation"], s4["theory_shares"])
    after = total_variation(s4["norm_shares"], s4["theory_shares"])
    small = [i for i, c in enumerate(isotypic_components(4)[1:]) if c["dimension"] < 3]
    more = all(s4["norm_shares_before_continuation"][i] > s4["theory_shares"][i] for i in small)
    shares = ("gives its small representations more of the norm than the theory does" if more else
              "shares its norm among the representations differently from the theory")
    rises = s4["margin_ratio"] > s4["margin_ratio_before_continuation"]
    return (f"At $\\lambda = {_configs(report, 'S4')['regularisation']:.0e}$ the trained $S_4$ network {shares}: the "
            f"mass that would have to move to reach the theory's shares is {before:.3f} of the total. Continuing the "
            f"same run for {s4['continuation']['then_steps']:,} more steps at $\\lambda = "
            f"{s4['continuation']['then_regularisation']:.0e}$ moves the shares "
            f"{'closer to' if after < before else 'no closer to'} the theory's ({after:.3f} left to move) and "
            f"{'raises' if rises else 'does not raise'} the margin, from "
            f"{s4['margin_ratio_before_continuation']:.3f} to {s4['margin_ratio']:.3f} of the maximum"
            + (": the gap is the finite penalty and finite training, not a wrong maximum.\n" if after < before and rises
               else ".\n"))


def sweep(report: dict) -> str:
    ratios = [row["margin_ratio"] for row in report["penalty_sweep"]]
    verb = "climbs" if all(b > a for a, b in zip(ratios, ratios[1:])) else "moves"
    return (f"From the largest penalty to the smallest, the margin {verb} from {ratios[0]:.2f} to {ratios[-1]:.2f} of "
            "the maximum. Staying below the theory's value is not a check that the value is right: it only rules out "
            "a value that is too small. The next section shows that it is attained.\n")


def certificate_reading(report: dict) -> str:
    rows = report["certificates"]
    deviation = max(abs(row["constructed"] / row["theory"] - 1) for row in rows.values())
    return (f"Each explicit network reaches its formula to a relative {deviation:.0e} (the tests hold them to "
            "$10^{-6}$), so the formulas are attained, not only bounds; and the trained networks approach them from "
            f"below. The $S_4$ row shows the main run; continued at a smaller penalty it reaches "
            f"{report['groups']['S4']['margin_ratio']:.3f} of the maximum.\n")


def seeds(report: dict) -> str:
    """The four runs the theory covers, over seeds."""
    found = report["seeds"]
    modular = found["modular-addition"]
    attained = [r >= ATTAINED and g < EQUAL_SHARES for r, g in zip(modular["margin_ratio"], modular["structure_gap"])]
    others = [g for g, a in zip(modular["structure_gap"], attained) if not a]
    formed = _formed(report, "modular-addition")
    rest = (f"the others stop short, with the norm shared unequally among frequencies (up to {max(others):.3f} of it "
            "would have to move to equalise them)" if others else "so do all the others")
    features = ("Every seed has single-frequency neurons covering every frequency: the features the theorem predicts "
                "appear in all of them, while" if all(formed) else
                f"Single-frequency neurons covering every frequency appear {count(sum(formed), len(formed))}; and")
    return (f"The four runs the theory covers were repeated with {len(modular['seeds'])} seeds each (new "
            "initialisations, the same settings). For modular addition the margin reaches "
            f"{span(modular['margin_ratio'], '.3f')} of the maximum (mean "
            f"{modular['margin_ratio_interval']['mean']:.3f}, "
            f"95% interval {bracket(modular['margin_ratio_interval'], '.3f')}). {sum(attained)} of {len(attained)} "
            f"seeds reach at least {ATTAINED} of it with the norm split equally among the frequencies, as the "
            f"theorem's networks are; {rest}. The seed shown above {'is' if attained[0] else 'is not'} one of them. "
            + (f"{features} the exact maximum, a statement about the limit of a vanishing penalty, is not reached by "
               "every run at this penalty and length. " if not all(attained) else
               "Every seed reaches the exact maximum at this penalty and length. ")
            + "For sparse parity the margin reaches "
            f"{span(found['sparse-parity']['margin_ratio'], '.3f')} of the maximum, for $S_3$ "
            f"{span(found['S3']['margin_ratio'], '.3f')}, and for $S_4$ {span(found['S4']['margin_ratio'], '.3f')}.\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "modular_setting": modular_setting(report),
            "story": story(report), "frequencies": frequencies(report), "phases": phase_reading(report),
            "lookup": lookup(report), "parity_setting": parity_setting(report), "parity": parity(report),
            "groups": groups(report), "s4_gap": s4_gap(report), "sweep": sweep(report),
            "certificates": certificate_reading(report), "seeds": seeds(report)}
