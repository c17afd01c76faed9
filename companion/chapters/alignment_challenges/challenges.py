"""The capstone's map as data: the paper's eighteen challenges, and the chapters that touch each.

Anwar et al. (2024) name eighteen challenges in three categories. Each `Challenge` has the paper's
section number and title and the `Link`s to the chapters that touch it; each link carries one sentence
about a result that chapter measured, a template filled from the chapter's own report, and a `LinkNote`
grading what the link is worth (evidence, analogy or illustration) and why.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("Scientific understanding of LLMs", "Development and deployment methods",
              "Sociotechnical challenges")

SCIENCE, METHODS, SOCIETY = CATEGORIES

CHAPTER_TITLES = {
    "induction-heads": "Statistical induction heads",
    "hidden-progress": "Hidden progress",
    "pareto-frontiers": "Pareto frontiers",
    "increasing-complexity": "Functions of increasing complexity",
    "margin-features": "Features from margin maximisation",
    "variable-creation": "Sparse variable creation",
    "watermark-sand": "Watermarks in the sand",
    "transcendence": "Transcendence",
    "knowable-unknowable": "Knowable and unknowable",
}

@dataclass(frozen=True)
class Link:
    """A chapter that touches a challenge, and what it measured, as a template over its `facts`."""
    topic: str
    claim: str

    @property
    def page(self) -> str:
        return f"book/{self.topic}"

    @property
    def label(self) -> str:
        """The chapter's "What this means for alignment" section, which links back here."""
        return f"{self.topic}-alignment"


@dataclass(frozen=True)
class Challenge:
    section: str  # the paper's section number
    category: str
    title: str  # as in the paper's table of contents
    label: str  # this chapter's target for the challenge
    links: tuple[Link, ...] = ()

    @property
    def chapters(self) -> list[str]:
        return [link.topic for link in self.links]


CHALLENGES = (
    Challenge("2.1", SCIENCE, "In-Context Learning (ICL) Is Black-Box", "challenge-in-context-learning", (
        Link("induction-heads",
             "A two-layer transformer learns to predict Markov chains from their context by forming two attention "
             "heads, one that looks at the previous token and one that looks for earlier copies of it, and ends "
             "{final_gap:.3f} nats from the Bayes-optimal in-context bigram rule."),
        Link("knowable-unknowable",
             "How much the small model changes its mind once its own answer is written into its context separates "
             "facts it lacks from chance with an AUC of {unsupervised_auc:.2f}: what a model does in context says "
             "something about what it knows."),
    )),
    Challenge("2.2", SCIENCE, "Capabilities Are Difficult to Estimate and Understand", "challenge-capabilities", (
        Link("induction-heads",
             "The in-context rule arrives abruptly: the model rests on the simpler unigram rule from step "
             "{plateau_start} to step {plateau_end}, and the bigram rule takes over at step {transition_step}."),
        Link("hidden-progress",
             "On sparse parity the loss is flat until it falls suddenly (median step {median_t_c:,.0f} over "
             "{seeds} seeds); halfway there it was {loss_half:.3f} against {loss_start:.3f} at the start, so the "
             "curve gave no warning."),
        Link("pareto-frontiers",
             "Same code, same amount of data, different seeds: with m = {luck_m:,} samples, a {luck_init} network of "
             "width {luck_width} learned the parity in {luck_rate:.0%} of {luck_seeds} runs."),
        Link("transcendence",
             "One network, two temperatures: at temperature 1 its mean reward is {reward_warm:+.2f}, close to its "
             "teachers' average ({expert_average:+.2f}); at temperature {tau_star:g} it is {reward_cold:+.2f}, "
             "above the best teacher's ({expert_best:+.2f})."),
    )),
    Challenge("2.3", SCIENCE, "Effects of Scale on Capabilities Are Not Well-Characterized", "challenge-scale", (
        Link("hidden-progress",
             "The time SGD needs grows as a power of the input size: for 3-sparse parities the median time to "
             "solve grows like n to the power {exponent_k3:.1f}."),
        Link("pareto-frontiers",
             "Width buys sample efficiency by parallel search: the neurons that won in a wide sparse network "
             "(s = {sparsity}), trained again alone from their initial weights, succeed in {pruned:.0%} of runs, "
             "against {random:.0%} for fresh random networks of their size."),
        Link("variable-creation",
             "From context length {T_first} to {T_last}, the samples a one-block transformer needs to learn a "
             "sparse function of its context grow {growth:.1f}-fold, a perceptron's {baseline_growth:.1f}-fold."),
    )),
    Challenge("2.4", SCIENCE, "Qualitative Understanding of Reasoning Capabilities Is Lacking", "challenge-reasoning", (
        Link("margin-features",
             "Margin maximisation predicts how a network adds modulo {p}: {single_frequency:.0%} of its neurons "
             "use one Fourier frequency and its margin reaches {margin_ratio:.1%} of the theory's maximum (mean "
             "over {margin_seeds} seeds); on "
             "S4, {single_irrep:.0%} of neurons use one irreducible representation."),
        Link("increasing-complexity",
             "Early in training a linear classifier accounts for at least {early_ratio:.0%} of what the network "
             "gets right on digits, though the network agrees with it {null_relation} decision trees and "
             "nearest-neighbour votes of the same accuracy do; only later does the network go beyond it (test "
             "accuracy {network_accuracy:.0%} against the linear classifier's {linear_accuracy:.0%})."),
    )),
    Challenge("2.5", SCIENCE, "Agentic LLMs Pose Novel Risks", "challenge-agents", (
        Link("transcendence",
             "An agent trained only to imitate need not stay within its teachers' competence: the chess model beats "
             "all three experts it learned from (paired 95% interval of its gain over the best: {gain_low:+.2f} to "
             "{gain_high:+.2f})."),
    )),
    Challenge("2.6", SCIENCE, "Multi-Agent Safety Is Not Assured by Single-Agent Safety", "challenge-multi-agent"),
    Challenge("2.7", SCIENCE, "Safety-Performance Trade-offs Are Poorly Understood", "challenge-trade-offs", (
        Link("watermark-sand",
             "A watermark has a price and a limit: a classifier reading a judge model tells marked texts from "
             "unmarked continuations of the same prompts with an AUC of {auc_kgw:.2f} (KGW), {auc_unigram:.2f} "
             "(Unigram) and {auc_exp:.2f} (EXP), where two unmarked samples reach at most {null_max:.2f}, so at "
             "least the most visible scheme costs something a reader's tools can see; and a random walk whose "
             "rewrites come from a model weaker than the watermarking one still erased the marks from "
             "{attack_mean:.0%} of texts on average (95% intervals per scheme: {attack_intervals})."),
    )),
    Challenge("3.1", METHODS, "Pretraining Produces Misaligned Models", "challenge-pretraining", (
        Link("transcendence",
             "Imitation averages out only the errors its teachers do not share: in the toy world, learning from "
             "experts with different blind spots gains {toy_diverse:+.2f} in reward over the best of them, from "
             "experts with the same blind spot {toy_shared:+.2f}."),
    )),
    Challenge("3.2", METHODS, "Finetuning Methods Struggle to Assure Alignment and Safety", "challenge-finetuning", (
        Link("increasing-complexity",
             "What a network learns first, it keeps: at the end of training it still carries {mu_share:.0%} of "
             "the information about the labels that the early linear classifier had, so later training builds on "
             "the early behaviour rather than replacing it."),
    )),
    Challenge("3.3", METHODS, "LLM Evaluations Are Confounded and Biased", "challenge-evaluations", (
        Link("hidden-progress",
             "What the loss hid, the weights showed: before the loss moved, the share of first-layer weight on "
             "the relevant bits had risen from chance ({chance_share:.2f}) to {share_before_fall:.2f} (median "
             "over seeds), above a random-label control's in {beats_control} of {seeds} seeds."),
        Link("transcendence",
             "The model's rating on one fixed ladder of opponents moves from {rating_warm:.0f} at temperature 1 to "
             "{rating_cold:.0f} at temperature {tau_star:g}: an evaluation rates a model together with the way "
             "it is sampled."),
        Link("knowable-unknowable",
             "The larger model used to label which tokens could be known is right about {proxy_agreement:.0%} of "
             "the tokens it labels, but of the unsure tokens that were in truth knowable it labels only "
             "{proxy_recall:.0%} as such: an evaluation built on a proxy model inherits its blind spots."),
    )),
    Challenge("3.4", METHODS, "Tools for Interpreting or Explaining LLM Behavior Are Absent or Lack Faithfulness",
              "challenge-interpretability", (
                  Link("induction-heads",
                       "Two scores read off the attention patterns name the circuit as it forms: the previous-token "
                       "score rises from {previous_token_start:.2f} to {previous_token_score:.2f} and the "
                       "induction score from {induction_start:.2f} to {induction_score:.2f}."),
                  Link("margin-features",
                       "Behaviour does not reveal mechanism: the network was perfectly accurate at step "
                       "{accurate_step:,} but formed its Fourier features only by step {features_step:,}, and a "
                       "lookup table that is just as accurate has {lookup_single_frequency:.0%} single-frequency "
                       "neurons."),
                  Link("variable-creation",
                       "In runs that learned the task, the [CLS] token puts {cls_attention:.0%} of its attention "
                       "on the three positions that decide the label: here the attention map explains the "
                       "prediction, because the theory says where to look."),
                  Link("knowable-unknowable",
                       "A linear probe tells facts the small model lacks from chance with an AUC of {probe_auc:.2f} "
                       "on held-out entities (entropy alone: {entropy_auc:.2f}; a barely trained control: "
                       "{control_auc:.2f}), partly by reading the rule that makes a slot a fact: an accurate probe "
                       "need not read what we think it reads."),
              )),
    Challenge("3.5", METHODS, "Jailbreaks and Prompt Injections Threaten Security of LLMs", "challenge-jailbreaks"),
    Challenge("3.6", METHODS, "Vulnerability to Poisoning and Backdoors Is Poorly Understood", "challenge-poisoning", (
        Link("increasing-complexity",
             "With a fifth of its training labels flipped, the digits network fits {noisy_train:.0%} of its "
             "training set, flipped labels included, and still scores {noisy_test:.0%} on clean test data: "
             "memorised exceptions live beside the general rule, out of sight of a test set."),
    )),
    Challenge("4.1", SOCIETY, "Values to Be Encoded within LLMs Are Not Clear", "challenge-values"),
    Challenge("4.2", SOCIETY, "Dual-Use Capabilities Enable Malicious Use and Misuse of LLMs", "challenge-dual-use", (
        Link("watermark-sand",
             "Watermarks are one proposed defence against misuse of generated text; each of the three was "
             "detected in at least {detect_min:.0%} of the marked texts, and a walk whose rewrites come from a "
             "model weaker than the watermarking one erased {attack_kgw:.0%} ({attack_kgw_interval}), "
             "{attack_unigram:.0%} ({attack_unigram_interval}) and {attack_exp:.0%} ({attack_exp_interval}) of "
             "them (KGW, Unigram, EXP; 95% intervals over the texts)."),
    )),
    Challenge("4.3", SOCIETY, "LLM-Systems Can Be Untrustworthy", "challenge-trustworthiness", (
        Link("knowable-unknowable",
             "A model's confidence does not say whether it knows: the small model's entropy separates the facts it "
             "lacks from chance only with an AUC of {entropy_auc:.2f}."),
        Link("watermark-sand",
             "Provenance can be washed off by attackers who could not have written the text: averaged over three "
             "attackers whose models are weaker than the watermarking one, the walk removed the mark and kept a "
             "judge model's loss within a tenth of a nat of the original's on {kept_walk:.0%} of texts, against "
             "{kept_regeneration:.0%} when they wrote the texts afresh with their own models (per attacker, "
             "strongest first, the walk's advantage in percentage points has the 95% intervals "
             "{advantage_intervals} over the prompts)."),
    )),
    Challenge("4.4", SOCIETY, "Socioeconomic Impacts of LLM May Be Highly Disruptive", "challenge-socioeconomic"),
    Challenge("4.5", SOCIETY, "LLM Governance Is Lacking", "challenge-governance", (
        Link("pareto-frontiers",
             "A capability here depends on data, width, initialisation and luck together: the smallest data set "
             "that works in half the runs ranges from {frontier_min:,.0f} to {frontier_max:,.0f} samples across the "
             "{frontier_cells} pairs of initialisation and width that get there, so a rule keyed to one "
             "resource misses the trade."),
        Link("watermark-sand",
             "A rule that requires watermarks relies on their robustness; a random walk whose rewrites come from "
             "a model weaker than the watermarking one removed them from {attack_mean:.0%} of texts on average over "
             "the three schemes (95% intervals per scheme, KGW, Unigram and EXP: {attack_intervals})."),
    )),
)

# What a link is worth, so that a student can tell a measurement from a toy analogy:
GRADES = ("evidence", "analogy", "illustration")

GRADE_MEANINGS = {
    "evidence": "the chapter measures, at toy scale, the quantity the challenge is about",
    "analogy": "the chapter measures something of the same shape, in a setting the challenge is not about",
    "illustration": "the chapter shows a concept the challenge uses, and measures nothing the challenge claims",
}

@dataclass(frozen=True)
class LinkNote:
    grade: str  # one of GRADES
    reason: str  # why, in one sentence


LINK_NOTES: dict[tuple[str, str], LinkNote] = {
    ("2.1", "induction-heads"): LinkNote(
        "evidence", "it pins down the rule a transformer runs in context, and the two heads that run it."),
    ("2.1", "knowable-unknowable"): LinkNote(
        "illustration", "it uses a model's response to its context as a detector of missing knowledge, and measures "
        "nothing about how in-context learning works."),
    ("2.2", "induction-heads"): LinkNote(
        "evidence", "it measures a capability arriving abruptly, after a plateau that gives no sign of it."),
    ("2.2", "hidden-progress"): LinkNote(
        "evidence", "it measures how little the loss, the usual gauge of progress, says about a capability before it "
        "appears."),
    ("2.2", "pareto-frontiers"): LinkNote(
        "analogy", "it shows that a fixed recipe yields the capability only in some seeds; the challenge is about "
        "judging what a trained model can do."),
    ("2.2", "transcendence"): LinkNote(
        "evidence", "it measures one trained network's capability changing with a choice made at inference time, the "
        "sampling temperature."),
    ("2.3", "hidden-progress"): LinkNote(
        "analogy", "its power law is in the size of the input, not in the model, data or compute the challenge "
        "scales."),
    ("2.3", "pareto-frontiers"): LinkNote(
        "evidence", "it tests, at toy scale, one mechanism by which width buys sample efficiency."),
    ("2.3", "variable-creation"): LinkNote(
        "analogy", "the samples needed grow with the context length and differ between architectures, not with model "
        "scale."),
    ("2.4", "margin-features"): LinkNote(
        "analogy", "it recovers the algorithm small networks learn for one-step modular arithmetic, not multi-step "
        "reasoning in language models."),
    ("2.4", "increasing-complexity"): LinkNote(
        "illustration", "simple functions learnt first, on digit classification, say nothing measured about "
        "reasoning."),
    ("2.5", "transcendence"): LinkNote(
        "analogy", "an imitator beating its teachers resembles an agent outgrowing its overseers, but no autonomy, "
        "tools or goals are involved."),
    ("2.7", "watermark-sand"): LinkNote(
        "evidence", "it measures what a safety mechanism costs in text quality, at one operating point."),
    ("3.1", "transcendence"): LinkNote(
        "analogy", "an imitator inheriting the blind spot all its teachers share mirrors pretraining absorbing flaws "
        "common to its data, in a toy world."),
    ("3.2", "increasing-complexity"): LinkNote(
        "analogy", "what later training keeps of early learning is measured within one supervised run, not across "
        "pretraining and finetuning."),
    ("3.3", "hidden-progress"): LinkNote(
        "illustration", "a loss that hides progress is not one of the confounds or biases of evaluations the "
        "challenge names."),
    ("3.3", "transcendence"): LinkNote(
        "evidence", "it measures an evaluation score, a rating on a fixed ladder, moving with an inference-time "
        "choice, the sampling temperature."),
    ("3.3", "knowable-unknowable"): LinkNote(
        "evidence", "it measures a model used as a labeller against the truth: precise, but blind to much."),
    ("3.4", "induction-heads"): LinkNote(
        "illustration", "the scores follow a circuit already known, with no test of faithfulness (no ablation)."),
    ("3.4", "margin-features"): LinkNote(
        "analogy", "equally accurate networks that use different mechanisms show why behaviour cannot vouch for an "
        "explanation, but no interpretability tool is tested."),
    ("3.4", "variable-creation"): LinkNote(
        "evidence", "it scores an attention-map explanation against the positions known to matter (a correlation, on "
        "the runs that learned)."),
    ("3.4", "knowable-unknowable"): LinkNote(
        "evidence", "it measures a probe against a refitted control and the simple baselines that could explain it "
        "(the rule, the entity's frequency), which is what a probe's faithfulness turns on."),
    ("3.6", "increasing-complexity"): LinkNote(
        "analogy", "memorised label noise that a clean test set cannot see resembles a backdoor, but there is no "
        "trigger, attacker or detector."),
    ("4.2", "watermark-sand"): LinkNote(
        "evidence", "it measures detection rates, and their removal by a cheap attack, for three watermark schemes."),
    ("4.3", "knowable-unknowable"): LinkNote(
        "analogy", "a confidence signal that tells knowledge poorly bears on trust, but no person's reliance is "
        "measured."),
    ("4.3", "watermark-sand"): LinkNote(
        "illustration", "text quality after an attack is about evading a watermark, not about whether a system can "
        "be trusted."),
    ("4.5", "pareto-frontiers"): LinkNote(
        "analogy", "a trade-off between data, width, initialisation and luck mirrors why one resource makes a poor "
        "threshold, but nothing about governance is measured."),
    ("4.5", "watermark-sand"): LinkNote(
        "analogy", "it measures how fragile a tool is that a rule might rely on; nothing about governance itself."),
}

def links() -> list[tuple[Challenge, Link]]:
    return [(challenge, link) for challenge in CHALLENGES for link in challenge.links]
