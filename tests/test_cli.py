import json
import os
import subprocess
import sys
import time

import nbformat
import pytest
from conftest import ROOT

from companion import topics
from companion.core import notebooks


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_reproduce_writes_the_metrics_the_issue_names(tmp_path):
    done = run_cli("reproduce", "induction-heads", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "induction-heads.json").read_text())
    for key in ("steps", "kl_model", "kl_to_unigram", "kl_to_bigram", "baselines", "transition_step"):
        assert key in report
    assert set(report["baselines"]) == {"uniform", "unigram", "bigram"}
    assert len(report["steps"]) == len(report["kl_model"]) == len(report["kl_to_bigram"])
    assert report["baselines"]["bigram"] < report["baselines"]["unigram"] < report["baselines"]["uniform"]
    assert report["transition_step"] in report["steps"]
    prior = report["prior_experiment"]
    assert {"settings", "seeds", "halfway_step", "paired_difference", "verdict"} <= set(prior)
    assert set(prior["halfway_step"]) == {"dirichlet", "doubly-stochastic"}
    assert prior["verdict"] in ("earlier", "later", "not separated")
    assert len(report["main_runs"]) >= 2
    for run in report["main_runs"]:
        assert {"final_gap_to_bigram", "final_previous_token_score", "head_rise"} <= set(run)
        assert set(run["head_rise"]) == {"layer1", "layer2"}


def test_student_notebooks_drop_solutions(tmp_path):
    done = run_cli("student-notebooks", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for chapter in notebooks.chapter_paths():
        original = nbformat.read(chapter, as_version=4)
        student = nbformat.read(tmp_path / chapter.name, as_version=4)
        tags = [c.metadata.get("tags", []) for c in student.cells]
        assert not any("solution" in t for t in tags)
        original_stubs = sum("exercise" in c.metadata.get("tags", []) for c in original.cells)
        assert sum("exercise" in t for t in tags) == original_stubs
        text = "\n".join(c.source for c in student.cells)
        if chapter.stem in topics.CHAPTERS:
            assert "{solution}" not in text and "{exercise}" in text
            assert "{solution-start}" not in text and "{solution-end}" not in text  # the explanation goes too
            assert "raise NotImplementedError" in text

            def checks(nb):
                return sum(".check_" in c.source for c in nb.cells if c.cell_type == "code")
            assert checks(student) == checks(original) >= 3  # the checks stay, to run on the student's code
        else:  # the capstone has discussion questions, no exercises: its student copy is the chapter itself
            assert [c.source for c in student.cells] == [c.source for c in original.cells]
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_cache_info_and_clear(private_cache):
    assert run_cli("cache", "info").returncode == 0
    done = run_cli("cache", "clear")
    assert done.returncode == 0 and "removed 0 entries" in done.stdout


def test_reproduce_hidden_progress_writes_runs_control_and_scaling(tmp_path):
    done = run_cli("reproduce", "hidden-progress", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "hidden-progress.json").read_text())
    run = report["runs"][0]
    assert {"seed", "n", "k", "t_c", "steps", "loss", "support_weight_share"} <= set(run)
    assert len(run["steps"]) == len(run["loss"]) == len(run["support_weight_share"])
    assert [r["seed"] for r in report["runs"]] == list(range(len(report["runs"])))
    assert {"steps", "support_weight_share"} <= set(report["control"])
    assert all({"n", "k", "median_t_c", "seeds"} <= set(row) for row in report["scaling_rows"])
    assert {"gap_over_training", "scaling", "scaling_exponents", "sq_reference", "sq_limit_form", "t_c_cv",
            "spread_sources"} <= set(report)
    assert {row["n"] for row in report["scaling_rows"]} == {int(n) for n in report["scaling"]["3"]}
    assert {"n", "k", "steps", "support_share", "control_share", "t_c"} <= set(report["gap_over_training"])
    assert {"init", "data_order"} <= set(report["spread_sources"])


def test_reproduce_pareto_frontiers_writes_grid_frontier_tests_lottery_and_tabular(tmp_path):
    done = run_cli("reproduce", "pareto-frontiers", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "pareto-frontiers.json").read_text())
    assert all({"init", "width", "m", "successes", "runs", "median_steps"} <= set(row) for row in report["grid"])
    assert {row["init"] for row in report["grid"]} == {"dense", "sparse"}
    widths = {str(row["width"]) for row in report["grid"]}
    assert all(set(report["frontier"][init]) == widths for init in ("dense", "sparse"))
    assert all({"m_half", "ci"} <= set(point)
               for init in ("dense", "sparse") for point in report["frontier"][init].values())
    assert all({"init", "m", "narrow", "wide", "p_wider_worse"} <= set(row) for row in report["width_tests"])
    assert set(report["lottery"]) == {"3", "6", "10"}
    assert all({"ticket_overlap", "random_overlap", "rewound_success", "random_success"} <= set(row)
               for row in report["lottery"].values())
    for row in report["tabular"]["paired"]:
        assert {"dataset", "m", "sparse_minus_dense", "mlp_minus_forest"} <= set(row)
        assert all({"mean", "ci"} <= set(row[key]) for key in ("sparse_minus_dense", "mlp_minus_forest"))


def test_reproduce_increasing_complexity_writes_both_data_sets(tmp_path):
    done = run_cli("reproduce", "increasing-complexity", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "increasing-complexity.json").read_text())
    for dataset in ("sine", "digits"):
        for kind in ("clean", "label_noise"):
            block = report[dataset][kind]
            assert {"steps", "I_FY", "mu", "I_FY_given_L", "I_LY", "acc_F", "acc_L"} <= set(block)
            assert len(block["steps"]) == len(block["mu"]) == len(block["acc_F"])
        entry = report[dataset]
        assert {"seeds", "early_ratio", "nulls", "margin_over_best_null", "noise"} <= set(entry)
        assert len(entry["early_ratio"]) == len(entry["seeds"]) >= 3
        assert set(entry["nulls"]) == {"tree", "knn", "independent"}
        assert {"mean", "ci"} <= set(entry["margin_over_best_null"])
        for rate in ("0.1", "0.2"):
            assert {"mu_peak", "mu_last5", "train_accuracy"} <= set(entry["noise"][rate])


def test_reproduce_margin_features_writes_the_issue_keys(tmp_path):
    done = run_cli("reproduce", "margin-features", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "margin-features.json").read_text())
    modular = report["modular_addition"]
    assert {"p", "width", "frac_single_freq", "freqs_covered", "num_freqs", "margin", "margin_theory"} <= set(modular)
    assert {"n", "k", "frac_norm_on_support", "margin", "margin_theory"} <= set(report["parity"])
    for group in ("S3", "S4"):
        assert {"frac_single_irrep", "margin", "margin_theory"} <= set(report["groups"][group])
    assert report["lookup_table"]["accuracy"] == 1.0
    assert {"frac_single_freq", "mean_top_share", "phase_error_median", "phase_error_max"} <= set(report["relu"])
    penalties = [row["regularisation"] for row in report["penalty_sweep"]]
    assert penalties == sorted(penalties, reverse=True)
    assert set(report["certificates"]) == {"modular", "parity", "S3", "S4"}
    for row in report["certificates"].values():
        assert {"theory", "constructed", "trained"} <= set(row)
    for group in ("S3", "S4"):
        assert {"norm_shares", "theory_shares", "margin_ratio"} <= set(report["groups"][group])
    assert "margin_ratio_before_continuation" in report["groups"]["S4"]
    assert "frequency_norm_spread" in modular and "balance" in report["parity"]
    assert len(report["seeds"]["modular-addition"]["margin_ratio"]) == 3


def test_reproduce_variable_creation_writes_the_issue_keys(tmp_path):
    done = run_cli("reproduce", "variable-creation", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "variable-creation.json").read_text())
    assert {"T", "critical_m", "critical_m_ci", "fits", "norms", "weight_decay", "recipes", "baseline_critical_m",
            "cls_attention_on_support"} <= set(report)
    assert {"a", "b", "r2", "extrapolation_error"} <= set(report["fits"]["log"])
    assert {"c", "exponent", "r2", "extrapolation_error"} <= set(report["fits"]["power"])
    assert report["fits"]["favoured"] in ("log", "power", "neither")
    assert len(report["T"]) == len(report["critical_m"]) == len(report["critical_m_ci"])
    assert len(report["baseline_T"]) == len(report["baseline_critical_m"])
    assert set(report["norms"][str(report["T"][0])]) >= {"qk", "value", "position"}
    assert {"critical_m"} <= set(report["weight_decay"])
    assert all({"lr", "T", "critical_m"} <= set(row) for row in report["recipes"])
    assert 0 < report["cls_attention_on_support"] <= 1
    assert set(report["curves"]) == {"attention", "mlp"}


def test_reproduce_watermark_sand_writes_the_issue_keys(tmp_path):
    done = run_cli("reproduce", "watermark-sand", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "watermark-sand.json").read_text())
    assert {"generator_loss", "judge_loss", "attackers"} <= set(report["models"])
    names = [attacker["name"] for attacker in report["models"]["attackers"]]
    assert names and all({"name", "loss"} == set(a) for a in report["models"]["attackers"])
    assert set(report["false_positive_rate"]) == {"kgw", "unigram", "exp"}
    assert {"distinct2", "unique_ratio"} <= set(report["plain"])
    quality = {"erased", "erased_quality_kept", "discriminator_auc", "delta_nll", "distinct2", "unique_ratio"}
    for scheme in ("kgw", "unigram", "exp"):
        for name in names:
            assert set(report[scheme][name]) == {"walk", "regeneration", "acceptance_rate"}
            assert set(report[scheme][name]["regeneration"]) == quality
            assert set(report[scheme][name]["walk"]) == quality | {"erased_quality_kept_per_text", "delta_nll_ci",
                                                                   "changed_fraction"}
            assert 0 <= report[scheme][name]["walk"]["erased"] <= 1
            assert 0 < report[scheme][name]["acceptance_rate"] < 1


def test_reproduce_transcendence_writes_the_issue_keys(tmp_path):
    done = run_cli("reproduce", "transcendence", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "transcendence.json").read_text())
    assert {"temperatures", "tau_star", "model_reward", "expert_reward", "reward_gain_ci", "model_rating",
            "expert_ratings", "illegal_move_rate", "toy"} <= set(report)
    assert report["tau_star"] in report["temperatures"]
    assert set(report["model_reward"]) == set(report["model_rating"]) == {str(t) for t in report["temperatures"]}
    assert all(len(r) == 3 and r[1] <= r[0] <= r[2] for r in report["expert_ratings"])
    assert set(report["toy"]) == {"diverse_gain", "shared_gain"}
    assert {"expert_error_rates", "best_expert_reward", "gain_over_best_ci", "single_expert", "diversity", "no_head",
            "tv_to_mixture", "gain_histogram", "mean_game_plies", "no_resign", "random_experts"} <= set(report)
    assert all({"score", "mean_game_plies", "endings"} <= set(player) for player in report["no_resign"].values())
    assert "gain_ci" in report["single_expert"]
    assert {"diverse_gain_ci", "shared_gain_ci"} <= set(report["diversity"])
    no_head = report["no_head"]
    assert {"reference_probability", "tv_to_mixture", "temperature_one_vs_average_ci", "gain_ci"} <= set(no_head)
    assert set(report["gain_histogram"]) == {"edges", "counts"}
    assert len(report["gain_histogram"]["edges"]) == len(report["gain_histogram"]["counts"]) + 1


def test_reproduce_knowable_unknowable_writes_the_issue_keys(tmp_path):
    done = run_cli("reproduce", "knowable-unknowable", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "knowable-unknowable.json").read_text())
    assert {"probe_auc", "entropy_baseline_auc", "cross_domain_auc", "unsupervised_auc", "proxy_agreement",
            "n_examples"} <= set(report)
    assert all(0 <= report[key] <= 1 for key in ("probe_auc", "entropy_baseline_auc", "cross_domain_auc",
                                                 "unsupervised_auc", "proxy_agreement"))
    assert report["n_examples"] == report["n_train"] + report["n_test"] > 0
    assert {"probe_auc", "entropy_auc", "frequency_auc", "rule_auc", "n"} <= set(report["within_fact"])
    assert {"shuffled_refit_auc", "rule_baseline_auc", "relation_transfer_auc", "entropy_bands"} <= set(report)
    assert all({"low", "high", "n", "probe_auc", "entropy_auc"} <= set(band) for band in report["entropy_bands"])


def test_reproduce_alignment_challenges_writes_the_checked_map(tmp_path):
    done = run_cli("reproduce", "alignment-challenges", "--scale", "test", "--seed", "0", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "alignment-challenges.json").read_text())
    assert len(report["challenges"]) == 18
    assert all({"category", "title", "chapters"} <= set(c) for c in report["challenges"])
    assert {c["category"] for c in report["challenges"]} == {"Scientific understanding of LLMs",
                                                             "Development and deployment methods",
                                                             "Sociotechnical challenges"}
    assert len(report["links"]) == sum(len(c["chapters"]) for c in report["challenges"]) == len(report["claims"])
    assert set(report["chapters_linked"]) == set(topics.CHAPTERS) and min(report["chapters_linked"].values()) >= 1
    assert report["map_problems"] == [] and report["false_claims"] == []


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing lost

def refused(done, *words):
    """The command stopped with status 2 and one line naming what was wrong."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def run_with(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **env})


def test_cache_clear_never_deletes_a_folder_the_cache_did_not_make(tmp_path):
    thesis = tmp_path / "thesis"
    (thesis / "chapter-1").mkdir(parents=True)
    (thesis / "chapter-1" / "draft.tex").write_text("years of work")
    refused(run_with({"COMPANION_CACHE": str(thesis)}, "cache", "clear"), "COMPANION_CACHE", "marker")
    cache_root = tmp_path / "cache"
    (cache_root / "toy" / ("0" * 20)).mkdir(parents=True)
    (cache_root / ".companion-cache").write_text("")
    for name in ("../thesis", str(thesis), ".", ""):
        refused(run_with({"COMPANION_CACHE": str(cache_root)}, "cache", "clear", "--experiment", name),
                "experiment must be one of", "['toy']")
    assert (thesis / "chapter-1" / "draft.tex").read_text() == "years of work"
    done = run_with({"COMPANION_CACHE": str(cache_root)}, "cache", "clear", "--experiment", "toy")
    assert done.returncode == 0 and "removed 1 entries" in done.stdout


def test_student_notebooks_never_overwrite_the_chapters(tmp_path):
    book = ROOT / "book"
    before = {p.name: p.read_bytes() for p in book.glob("*.ipynb")}
    refused(run_cli("student-notebooks", str(book)), "OUT must not be the book's folder")
    refused(run_cli("student-notebooks", "book/", "--force"), "OUT must not be the book's folder")
    assert {p.name: p.read_bytes() for p in book.glob("*.ipynb")} == before
    assert run_cli("student-notebooks", str(tmp_path / "class")).returncode == 0
    refused(run_cli("student-notebooks", str(tmp_path / "class")), "--force")
    assert run_cli("student-notebooks", str(tmp_path / "class"), "--force").returncode == 0
    (tmp_path / "a-file").write_text("x")
    refused(run_cli("student-notebooks", str(tmp_path / "a-file")), "OUT must be a folder", "is a file")


@pytest.mark.parametrize("problem", ["out is a file", "out under a file", "out unwritable", "cache is a file",
                                     "cache unwritable", "scale from the environment", "jobs from the environment"])
def test_paths_and_settings_are_checked_before_any_compute(tmp_path, problem):
    (tmp_path / "a-file").write_text("x")
    out, env = str(tmp_path / "out"), {"COMPANION_CACHE": str(tmp_path / "cache")}
    expected = {"out is a file": ("--out must be a folder",), "out under a file": ("--out must be a folder",),
                "out unwritable": ("--out must be a writable folder",),
                "cache is a file": ("COMPANION_CACHE must be a folder",),
                "cache unwritable": ("COMPANION_CACHE must be a writable folder",),
                "scale from the environment": ("COMPANION_SCALE must be one of", "'huge'"),
                "jobs from the environment": ("COMPANION_JOBS must be a positive integer", "'0'")}[problem]
    if problem == "out is a file":
        out = str(tmp_path / "a-file")
    elif problem == "out under a file":
        out = str(tmp_path / "a-file" / "results")
    elif problem == "out unwritable":
        out = "/proc/companion-results"
    elif problem == "cache is a file":
        env["COMPANION_CACHE"] = str(tmp_path / "a-file")
    elif problem == "cache unwritable":
        env["COMPANION_CACHE"] = "/proc/companion-cache"
    elif problem == "scale from the environment":
        env["COMPANION_SCALE"] = "huge"
    else:
        env["COMPANION_JOBS"] = "0"
    started = time.perf_counter()
    refused(run_with(env, "reproduce", "watermark-sand", "--seed", "0", "--out", out), *expected)
    assert time.perf_counter() - started < 30  # refused at once, not after the models trained
    assert not list((tmp_path / "cache").glob("*/*"))


def test_the_scale_defaults_to_the_environments(tmp_path):
    done = run_with({"COMPANION_SCALE": "test"}, "reproduce", "hidden-progress", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "hidden-progress.json").read_text())["scale"] == "test"
