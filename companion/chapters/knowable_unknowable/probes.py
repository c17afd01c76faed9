"""Knowable and unknowable, part 2: the paper's labels, the probes, and every measured quantity.

Two models trained on the world (`experiment.py`) label each token by their entropies: epistemic where
the large model is sure and the small one is not, aleatoric where both are about equally unsure. A
linear probe on the small model's state predicts the label on held-out entities, beside the small
model's entropy, the rule that generated the data, an untrained network's probe and, on fact slots
alone, the entity's frequency; the in-context test moves the model with its own answer. `run` trains
both models (or loads them) and measures all of it.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from companion.core import runtime
from companion.core.cache import Result, cached_training
from companion.core.models import Transformer

from .experiment import (
    ALEATORIC,
    EPISTEMIC,
    NAME,
    SLOTS,
    UNLABELLED,
    VERSION,
    Config,
    Documents,
    World,
    build_world,
    entropy,
    forward_with_states,
    load_model,
    sample_documents,
    token_statistics,
    train_many,
    train_models,
    world_config,
)


def run_many(configs: list[Config], n_jobs: int = 2) -> list[Result]:
    """Several experiments: first every model they need, in parallel, then each analysis."""
    train_many(configs, n_jobs)
    return [run(config) for config in configs]


def label_tokens(small_entropy: torch.Tensor, large_entropy: torch.Tensor, min_small_entropy: float,
                 max_large_entropy: float, aleatoric_tolerance: float) -> torch.Tensor:
    """The paper's labels from two models' entropies: 1 epistemic, 0 aleatoric, -1 neither.

    Only tokens where the small model is unsure (entropy at least `min_small_entropy`) are labelled:
    epistemic where the large model is sure (below `max_large_entropy`), aleatoric where it is about
    as unsure as the small one (the entropies within `aleatoric_tolerance`).
    """
    unsure = small_entropy >= min_small_entropy
    labels = torch.full(small_entropy.shape, UNLABELLED, dtype=torch.long)
    labels[unsure & ((large_entropy - small_entropy).abs() <= aleatoric_tolerance)] = ALEATORIC
    labels[unsure & (large_entropy < max_large_entropy)] = EPISTEMIC
    return labels


def balanced_examples(labels: np.ndarray, keys, rng: np.random.Generator, max_rounds: int = 50) -> np.ndarray:
    """Indices of a data set with as many epistemic as aleatoric examples for every value of every key.

    ``keys`` is one array (the paper's choice: the id of the token predicted) or a list of arrays,
    one entry per token each. Examples are dropped at random from the larger label of each group
    until no group of any key is unbalanced, so no key, alone, tells the probe anything. Returned sorted.
    """
    labels = np.asarray(labels)
    columns = [np.asarray(keys)] if isinstance(keys, np.ndarray) else [np.asarray(k) for k in keys]
    order = rng.permutation(np.flatnonzero(labels >= 0))  # dropping from the end of a random order
    epistemic = labels[order] == EPISTEMIC
    keep = np.ones(len(order), dtype=bool)
    for _ in range(max_rounds):
        changed = False
        for column in columns:
            groups = np.unique(column[order], return_inverse=True)[1]
            for flag in (True, False):  # thin out each group's excess of one label
                mine = keep & (epistemic == flag)
                other = np.bincount(groups[keep & (epistemic != flag)], minlength=groups.max() + 1)
                rank = _rank_within_group(groups, mine)
                drop = mine & (rank >= other[groups])
                if drop.any():
                    keep &= ~drop
                    changed = True
        if not changed:
            break
    return np.sort(order[keep])


def _rank_within_group(groups: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """For each selected entry, how many selected entries of its group come before it (0, 1, 2, ...)."""
    rank = np.zeros(len(groups), dtype=int)
    index = np.flatnonzero(selected)
    by_group = index[np.argsort(groups[index], kind="stable")]
    starts = np.searchsorted(groups[by_group], groups[by_group], side="left")
    rank[by_group] = np.arange(len(by_group)) - starts
    return rank


def fit_probe(features: np.ndarray, labels: np.ndarray, c: float = 1.0):
    """A linear probe: standardised features, L2-regularised logistic regression (scikit-learn)."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(features, labels)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve of `scores` for 0/1 `labels`: the Mann-Whitney statistic from the
    scores' ranks, ties counting one half, which is what scikit-learn's roc_auc_score computes. The
    bootstraps call it thousands of times, and roc_auc_score's checks made up half the chapter's analysis."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import rankdata

    labels, ranks = np.asarray(labels), rankdata(scores)
    positive = labels == 1
    if not np.isin(labels, (0, 1)).all() or positive.all() or not positive.any():
        raise ValueError(f"auc needs labels of 0 and 1, both present, got the values {np.unique(labels)}")
    n_positive, n_negative = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


@torch.no_grad()
def in_context_shift(model: Transformer, tokens: torch.Tensor, positions: torch.Tensor) -> tuple[np.ndarray, ...]:
    """The unsupervised test: show the model its own answer in context and see how far it moves.

    For each (document, position) whose target is a value, the model's most likely value is written
    into a copy of the current sentence, put right after the format marker, and the model reads the
    document again. KL(after || before) is large where the model copies (it treats the slot as a fact it
    lacks) and small where it does not (it treats the slot as chance). Returns the KL and both entropies.
    """
    documents, ends = tokens[:, :-1], positions
    before_logits, _ = forward_with_states(model, documents)
    before = before_logits[torch.arange(len(ends)), ends].log_softmax(-1)
    candidate = before.argmax(-1)
    width = documents.shape[1] + 4
    shown = torch.zeros(len(ends), width, dtype=torch.long)
    for i, (document, end) in enumerate(zip(documents, ends.tolist())):
        sentence = torch.cat([document[end - 2:end + 1], candidate[i:i + 1]])
        context = torch.cat([document[:1], sentence, document[1:end + 1]])
        shown[i, :len(context)] = context  # padding on the right: a causal model never reads it
    after_logits, _ = forward_with_states(model, shown)
    after = after_logits[torch.arange(len(ends)), ends + 4].log_softmax(-1)
    kl = (after.exp() * (after - before)).sum(-1)
    return kl.numpy(), entropy(before).numpy(), entropy(after).numpy()


FREQUENCY_BINS = (1, 10, 30, 100, 300, 1000, 3000, 10_000, 100_000)

def held_out_entities(n_entities: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask over entities: `share` of each block of ten consecutive ranks, chosen at random,
    so the held-out entities span the same range of frequencies as the rest."""
    mask = np.zeros(n_entities, dtype=bool)
    for start in range(0, n_entities, 10):
        block = np.arange(start, min(start + 10, n_entities))
        mask[rng.choice(block, max(1, round(share * len(block))), replace=False)] = True
    return mask


def _analyse(config: Config, device: torch.device) -> Result:
    started = time.perf_counter()
    models = train_models(config)  # outside any no_grad: a model missing from the cache may train in this process
    world = build_world(world_config(config))
    small, large, control = (load_model(models[size], world) for size in ("small", "large", "control"))
    docs = sample_documents(world, config.eval_documents, runtime.derived_generator(config.seed, 3),
                            second_format_share=0.5)
    targets = docs.tokens[:, 1:]
    h_small, states, h_large, control_states = _read(docs, small, large, control)
    labels = label_tokens(h_small, h_large, config.min_small_entropy, config.max_large_entropy,
                          config.aleatoric_tolerance)
    knowable = docs.knowable

    rows, document, second, held_out = _balanced_rows(config, labels, docs, targets)
    flat = lambda t: t.reshape(-1).numpy()  # noqa: E731
    n, width = labels.shape
    X = states.reshape(n * width, -1).numpy()
    X_control = control_states.reshape(n * width, -1).numpy()
    y = flat(labels)
    entropies = flat(h_small)
    probe = fit_probe(X[rows["train"]], y[rows["train"]], config.probe_c)
    control_probe = fit_probe(X_control[rows["train"]], y[rows["train"]], config.probe_c)
    test, transfer = rows["test"], rows["transfer"]
    probe_scores = probe.predict_proba(X[test])[:, 1]
    transfer_scores = probe.predict_proba(X[transfer])[:, 1]

    # the in-context test, on the test examples whose target is a value
    value_rows = test[flat(docs.slot)[test] == SLOTS.index("value")]
    kl, before, after = in_context_shift(small, docs.tokens[document[value_rows]],
                                         torch.from_numpy(value_rows % width))
    truth = flat(knowable)
    # the entropy baseline thresholds in whichever direction separates better
    entropy_direction = 1.0 if auc(y[test], entropies[test]) >= 0.5 else -1.0
    found = {
        "probe_auc": auc(y[test], probe_scores),
        "entropy_baseline_auc": auc(y[test], entropy_direction * entropies[test]),
        "entropy_direction": "high entropy means epistemic" if entropy_direction > 0 else "low entropy means epistemic",
        "cross_domain_auc": auc(y[transfer], transfer_scores),
        "unsupervised_auc": auc(y[value_rows], kl),
        "unsupervised_true_label_auc": auc(truth[value_rows].astype(int), kl),
        "control_probe_auc": auc(y[test], control_probe.predict_proba(X_control[test])[:, 1]),
        "probe_true_label_auc": auc(truth[test].astype(int), probe_scores),
        **_proxy_checks(config, labels, docs, h_small),
        **_counts(config, rows, value_rows, docs, labels, h_small),
    }
    found["knowledge_by_frequency"] = _knowledge_by_frequency(world, docs, h_small, h_large)
    per_token = _token_facts(world, docs)
    found.update(_controls(config, X, y, rows, per_token))
    found["entropy_bands"] = entropy_bands(y[test], probe_scores, entropies[test])
    found["within_fact"] = _within_fact(config, X, X_control, flat, labels, h_small, h_large, docs, document, second,
                                        held_out, per_token)

    arrays = {"test_labels": torch.from_numpy(y[test]), "test_entropy": torch.from_numpy(entropies[test]),
              "test_large_entropy": torch.from_numpy(flat(h_large)[test]),
              "test_probe": torch.from_numpy(probe_scores), "test_truth": torch.from_numpy(truth[test]),
              **_roc_arrays({"probe": (y[test], probe_scores),
                             "entropy": (y[test], entropy_direction * entropies[test]),
                             "transfer": (y[transfer], transfer_scores), "in_context": (y[value_rows], kl)})}
    arrays.update(_example_documents(docs, labels, h_small, h_large, states, probe, held_out))
    metrics = {"config": dataclasses.asdict(config), **found,
               "models": {size: {"parameters": r.metrics["parameters"], "wall_seconds": r.metrics["wall_seconds"],
                                 "final_loss": r.metrics["loss"][-1], "fact_entropy": r.metrics["fact_entropy"][-1],
                                 "random_entropy": r.metrics["random_entropy"][-1]} for size, r in models.items()},
               "wall_seconds": round(time.perf_counter() - started, 2)}
    return Result(metrics=metrics, arrays=arrays)


def _counts(config: Config, rows: dict, value_rows: np.ndarray, docs: Documents, labels: torch.Tensor,
            h_small: torch.Tensor) -> dict:
    """How many examples each part holds, how many tokens got each label, and the small model's mean
    entropy on each kind of held-out example."""
    test, y, entropies = rows["test"], labels.reshape(-1).numpy(), h_small.reshape(-1).numpy()
    return {"n_examples": int(len(rows["train"]) + len(test)),
            "n_train": int(len(rows["train"])), "n_test": int(len(test)), "n_transfer": int(len(rows["transfer"])),
            "n_in_context": int(len(value_rows)),
            "value_share": float((docs.slot.reshape(-1).numpy()[test] == SLOTS.index("value")).mean()),
            "labelled": {"epistemic": int((labels == EPISTEMIC).sum()), "aleatoric": int((labels == ALEATORIC).sum()),
                         "unsure": int((h_small >= config.min_small_entropy).sum()), "tokens": int(labels.numel())},
            "mean_small_entropy": {"epistemic": float(entropies[test][y[test] == 1].mean()),
                                   "aleatoric": float(entropies[test][y[test] == 0].mean())}}


def _read(docs: Documents, small: Transformer, large: Transformer, control: Transformer):
    """Each model's reading of the documents: the small model's entropy (n, T) and last hidden states
    (n, T, d), the large model's entropy, and the barely trained control's hidden states."""
    inputs = docs.tokens[:, :-1]
    h_small, states = token_statistics(small, inputs)
    h_large, _ = token_statistics(large, inputs)
    _, control_states = token_statistics(control, inputs)
    return h_small, states, h_large, control_states


def _proxy_checks(config: Config, labels: torch.Tensor, docs: Documents, h_small: torch.Tensor) -> dict:
    """The large model's labels against the truth, on every labelled token and on the value tokens alone
    (the relation tokens, always chance and uncertain to both models, make up much of the rest and are easy
    to call), and what the labels make of the tokens that were knowable where the small model was unsure."""
    knowable = docs.knowable
    labelled = labels >= 0
    right = (labels == EPISTEMIC) == knowable
    labelled_values = labelled & (docs.slot == SLOTS.index("value"))
    unsure_knowable = knowable & (h_small >= config.min_small_entropy)
    return {"proxy_agreement": right[labelled].float().mean().item(),
            "proxy_agreement_values": right[labelled_values].float().mean().item(),
            "labelled_values": int(labelled_values.sum()),
            "proxy_recall": {name: (labels[unsure_knowable] == code).float().mean().item()
                             for name, code in (("epistemic", EPISTEMIC), ("aleatoric", ALEATORIC),
                                                ("neither", UNLABELLED))}}


def _balanced_rows(config: Config, labels: torch.Tensor, docs: Documents, targets: torch.Tensor):
    """The balanced data sets, as flat token indices: the probe is fitted on format-A documents about some
    entities ("train") and tested on documents about the others, in format A ("test") and in format B
    ("transfer"), so that it cannot score by remembering which entities the large model happens to know.
    Also returned, per token: its document, whether that document is in format B, whether its entity is
    held out."""
    rng = np.random.default_rng([config.seed, 4])
    n, width = labels.shape
    document = np.repeat(np.arange(n), width)
    second = np.repeat(docs.second_format.numpy(), width)
    held_out = held_out_entities(config.n_entities, 1 - config.train_share, rng)[docs.entity.numpy()]
    keys = targets.reshape(-1).numpy()  # the paper's rule: balanced per token predicted
    rows = {}
    for part, where in (("train", ~second & ~held_out[document]), ("test", ~second & held_out[document]),
                        ("transfer", second & held_out[document])):
        rows[part] = balanced_examples(np.where(where, labels.reshape(-1).numpy(), UNLABELLED), keys, rng)
    for part, found in rows.items():
        if len(found) < 20:
            raise ValueError(
                f"only {len(found)} balanced {part} examples: the large model is sure where the small one is "
                f"not too rarely; train it longer (large_steps={config.large_steps}), or loosen "
                f"min_small_entropy={config.min_small_entropy} or max_large_entropy={config.max_large_entropy}")
    return rows, document, second, held_out


def _roc_arrays(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Each score's ROC curve (false and true positive rates, and thresholds), for the figures."""
    # scikit-learn is imported here, not at the top: only the runs that use it pay its second of loading
    from sklearn.metrics import roc_curve

    arrays = {}
    for name, (labels, scores) in curves.items():
        fpr, tpr, thresholds = roc_curve(labels, scores)
        arrays[f"roc.{name}.fpr"], arrays[f"roc.{name}.tpr"] = torch.from_numpy(fpr), torch.from_numpy(tpr)
        arrays[f"roc.{name}.threshold"] = torch.from_numpy(np.clip(thresholds, -1e6, 1e6))
    return arrays


def _token_facts(world: World, docs: Documents) -> dict[str, np.ndarray]:
    """Per target token (flattened like the labels): its slot, the sentence's class and relation, and
    the log-frequency of the document's entity (expected mentions per training document)."""
    n, width = docs.slot.shape
    sentence = torch.arange(width) // 4
    relation = docs.relations[:, sentence]
    entity_class = world.entity_class[docs.entity][:, None].expand(n, width)
    frequency = world.entity_weight[docs.entity].log()[:, None].expand(n, width)
    return {"slot": docs.slot.reshape(-1).numpy(), "relation": relation.reshape(-1).numpy(),
            "class": entity_class.reshape(-1).numpy(), "log_frequency": frequency.reshape(-1).numpy()}


def rule_scores(keys_train: np.ndarray, labels_train: np.ndarray, keys_test: np.ndarray) -> np.ndarray:
    """The rule baseline: each test token scored by the share of epistemic labels among the training
    tokens with its key (slot, class, relation), the key that decides whether a slot is a fact; keys
    never seen score the overall share."""
    overall = labels_train.mean()
    table = {key: labels_train[keys_train == key].mean() for key in np.unique(keys_train)}
    return np.array([table.get(key, overall) for key in keys_test])


def _rule_key(per_token: dict[str, np.ndarray]) -> np.ndarray:
    return (per_token["slot"] * 1000 + per_token["class"]) * 1000 + per_token["relation"]


SHUFFLES = 5

def _controls(config: Config, X: np.ndarray, y: np.ndarray, rows: dict[str, np.ndarray],
              per_token: dict[str, np.ndarray]) -> dict:
    """Controls that can fail, on the main task.

    - `shuffled_refit_aucs`: the probe refitted on the training tokens with their labels shuffled, then
      scored on the test tokens' true labels, SHUFFLES times; `shuffled_refit_auc` is their mean. Each
      should be about 0.5; one far from it means the features carry the labels so plainly that a fit
      to noise lands on them.
    - `rule_baseline_auc`: no model at all, only the rule (slot, class, relation) that makes a slot a
      fact or chance, scored by its share of epistemic training labels.
    - `relation_transfer_aucs`: the probe fitted on the sentences of half the relations and tested on
      the others', for SHUFFLES random halvings (which relations are held out matters);
      `relation_transfer_auc` is their mean.
    Each control draws from its own generator, so that neither depends on how much the other used.
    """
    train, test = rows["train"], rows["test"]
    shuffling = np.random.default_rng([config.seed, 5])
    shuffled = [fit_probe(X[train], shuffling.permutation(y[train]), config.probe_c) for _ in range(SHUFFLES)]
    shuffled = [auc(y[test], probe.predict_proba(X[test])[:, 1]) for probe in shuffled]
    key = _rule_key(per_token)
    halving = np.random.default_rng([config.seed, 6])
    transfers, counts = [], []
    for _ in range(SHUFFLES):
        seen = np.isin(per_token["relation"], halving.permutation(config.n_relations)[: config.n_relations // 2])
        fit_rows, unseen_rows = train[seen[train]], test[~seen[test]]
        transfer = fit_probe(X[fit_rows], y[fit_rows], config.probe_c)
        transfers.append(auc(y[unseen_rows], transfer.predict_proba(X[unseen_rows])[:, 1]))
        counts.append(len(unseen_rows))
    return {"shuffled_refit_auc": float(np.mean(shuffled)), "shuffled_refit_aucs": shuffled,
            "rule_baseline_auc": auc(y[test], rule_scores(key[train], y[train], key[test])),
            "relation_transfer_auc": float(np.mean(transfers)), "relation_transfer_aucs": transfers,
            "relation_transfer_n": int(np.mean(counts))}


ENTROPY_BANDS = 4

def entropy_bands(labels: np.ndarray, probe_scores: np.ndarray, entropies: np.ndarray,
                  bands: int = ENTROPY_BANDS) -> list[dict]:
    """The paper's comparison: probe and entropy AUC within bands of the small model's entropy (its
    quantiles), where entropy alone has little to go on. A band needs both labels and 20 tokens."""
    edges = np.quantile(entropies, np.linspace(0, 1, bands + 1))
    found = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (entropies >= low) & (entropies <= high)
        if inside.sum() >= 20 and 0 < labels[inside].mean() < 1:
            entropy_auc = auc(labels[inside], entropies[inside])
            found.append({"low": float(low), "high": float(high), "n": int(inside.sum()),
                          "probe_auc": auc(labels[inside], probe_scores[inside]),
                          "entropy_auc": max(entropy_auc, 1 - entropy_auc)})
    return found


WITHIN_FACT_SURE, WITHIN_FACT_UNSURE = 0.2, 1.0  # nats of the large model's entropy: knows, does not know

def _within_fact(config: Config, X, X_control, flat, labels, h_small, h_large, docs: Documents, document,
                 second, held_out, per_token) -> dict:
    """The question the paper's labels ask in a real corpus: among fact slots where the small model is
    unsure, which facts does the large model know (entropy below WITHIN_FACT_SURE, label 1) and which
    not (at least WITHIN_FACT_UNSURE, label 0)? Every slot here is a fact. The probe (refitted on these
    labels), the small model's entropy, the entity's frequency, the rule and the control model's probe
    are compared on held-out entities, with cluster-bootstrap intervals for the probe's differences;
    and the probe and frequency also within thirds of the frequency range."""
    fact_value = flat(docs.knowable) & (per_token["slot"] == SLOTS.index("value"))
    unsure = flat(h_small) >= config.min_small_entropy
    large = flat(h_large)
    y = np.where(large < WITHIN_FACT_SURE, 1, np.where(large >= WITHIN_FACT_UNSURE, 0, -1))
    usable = fact_value & unsure & (y >= 0) & ~second  # `second` is per token already: format A only
    train = np.flatnonzero(usable & ~held_out[document])
    test = np.flatnonzero(usable & held_out[document])
    probe = fit_probe(X[train], y[train], config.probe_c)
    control = fit_probe(X_control[train], y[train], config.probe_c)
    key = _rule_key(per_token)

    def oriented(scores):  # test scores, in the direction that separates the training labels
        return scores[test] if auc(y[train], scores[train]) >= 0.5 else -scores[test]

    labels_test = y[test]
    probe_scores = probe.predict_proba(X[test])[:, 1]
    entropy_scores, frequency_scores = oriented(flat(h_small)), oriented(per_token["log_frequency"])
    found = {"probe_auc": auc(labels_test, probe_scores),
             "entropy_auc": auc(labels_test, entropy_scores),
             "frequency_auc": auc(labels_test, frequency_scores),
             "rule_auc": auc(labels_test, rule_scores(key[train], y[train], key[test])),
             "control_auc": auc(labels_test, control.predict_proba(X_control[test])[:, 1]),
             "n": int(len(test)), "n_train": int(len(train)), "known_share": float(labels_test.mean())}
    frequency = per_token["log_frequency"][test]
    bands = []
    edges = np.quantile(frequency, [0, 1 / 3, 2 / 3, 1])
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (frequency >= low) & (frequency <= high)
        if inside.sum() >= 20 and 0 < labels_test[inside].mean() < 1:
            bands.append({"low": float(low), "high": float(high), "n": int(inside.sum()),
                          "probe_auc": auc(labels_test[inside], probe_scores[inside]),
                          "frequency_auc": auc(labels_test[inside], frequency_scores[inside])})
    found["within_frequency_thirds"] = bands
    entities = docs.entity.numpy()[document[test]]  # tokens of one entity are not independent draws
    found["probe_minus_entropy_ci"] = auc_difference_interval(labels_test, probe_scores, entropy_scores, entities)
    found["probe_minus_frequency_ci"] = auc_difference_interval(labels_test, probe_scores, frequency_scores,
                                                                entities)
    # what the state knows beyond frequency: the probe refitted with the log-frequency as one more feature,
    # against the log-frequency alone (whose AUC is frequency_auc: a logistic fit on one feature is monotone)
    log_frequency = per_token["log_frequency"][:, None]
    given = fit_probe(np.hstack([X[train], log_frequency[train]]), y[train], config.probe_c)
    given_scores = given.predict_proba(np.hstack([X[test], log_frequency[test]]))[:, 1]
    found["probe_and_frequency_auc"] = auc(labels_test, given_scores)
    found["probe_and_frequency_minus_frequency_ci"] = auc_difference_interval(labels_test, given_scores,
                                                                              frequency_scores, entities)
    found["entities"] = int(len(np.unique(entities)))
    found["second_format_tokens"] = int(second[test].sum() + second[train].sum())  # 0: format A only
    return found


def auc_difference_interval(labels: np.ndarray, first: np.ndarray, second: np.ndarray, groups: np.ndarray,
                            draws: int = 1000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """A paired cluster-bootstrap interval for AUC(first) - AUC(second) on the same tokens: whole groups
    (the entities) are drawn with replacement, and both scores are read on the tokens drawn."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    differences = []
    for _ in range(draws):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        if 0 < labels[pick].mean() < 1:
            differences.append(auc(labels[pick], first[pick]) - auc(labels[pick], second[pick]))
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2])
    return [float(low), float(high)]


def _knowledge_by_frequency(world: World, docs: Documents, h_small, h_large) -> dict:
    """Mean entropy on the first mention of a fact, by how often the entity appears in training.

    Frequencies are expected mentions of the entity per million training documents.
    """
    value = docs.slot == SLOTS.index("value")
    first = docs.first_mention.repeat_interleave(4, dim=1) & value
    fact = docs.fact.repeat_interleave(4, dim=1)
    per_million = (world.entity_weight[docs.entity] * 1e6)[:, None].expand_as(h_small)
    rows = []
    for low, high in zip(FREQUENCY_BINS[:-1], FREQUENCY_BINS[1:]):
        where = first & fact & (per_million >= low) & (per_million < high)
        if where.sum() >= 20:
            rows.append({"low": low, "high": high, "count": int(where.sum()),
                         "small": h_small[where].mean().item(), "large": h_large[where].mean().item()})
    chance = first & ~fact
    return {"bins": rows, "random_small": h_small[chance].mean().item(), "random_large": h_large[chance].mean().item()}


EXAMPLES = 8

def _example_documents(docs: Documents, labels, h_small, h_large, states, probe, held_out: np.ndarray) -> dict:
    """A few held-out format-A documents with labels of both kinds, every token scored, for the explorer."""
    chosen = [i for i in range(len(labels)) if held_out[i] and not docs.second_format[i]
              and (labels[i] == EPISTEMIC).any() and (labels[i] == ALEATORIC).any()][:EXAMPLES]
    index = torch.tensor(chosen, dtype=torch.long)
    d = states.shape[-1]
    scores = probe.predict_proba(states[index].reshape(-1, d).numpy())[:, 1].reshape(len(chosen), -1)
    return {"examples.tokens": docs.tokens[index], "examples.labels": labels[index],
            "examples.small_entropy": h_small[index], "examples.large_entropy": h_large[index],
            "examples.probe": torch.from_numpy(scores).float(), "examples.knowable": docs.knowable[index]}


def run(config: Config, use_cache: bool = True, device: str = "cpu") -> Result:
    """Train (or load) both models and measure everything the chapter reports."""
    return cached_training(NAME, VERSION, config, _analyse, use_cache=use_cache, device=device)
