"""Figures, the temperature explorer and the live widgets of the transcendence chapter."""

from __future__ import annotations

import base64
import html

import chess
import chess.svg
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import CYCLE, PALETTE, figure, to_png
from companion.core.runtime import reproducibility_card as card

from .analysis import gains_over_temperature_one, summary
from .experiment import chess_config, move_comparison, position
from .players import ARROW_SHARE, _finished, candidate_moves
from .policy import NAME, SCALES, VERSION, ModelPlayer, load_policy, make_experts
from .toy import DIVERSITY, TOY_SCENARIOS, ToyConfig, toy_summary


def plot_toy(taus=None, ax=None):
    """The exact toy world: reward against temperature for the three scenarios, best expert dashed."""
    taus = np.geomspace(1, 1e-3, 13) if taus is None else taus
    if ax is None:
        _, ax = figure(width=6.5, height=3.6)
    for colour, (name, config) in zip(CYCLE, TOY_SCENARIOS.items()):
        found = toy_summary(config, tuple(taus))
        ax.plot(taus, list(found["model_reward"].values()), "o-", color=colour, ms=3, label=f"model: {name}")
        ax.axhline(max(found["expert_rewards"]), color=colour, ls="--", lw=1)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("sampling temperature tau (colder to the right)")
    ax.set_ylabel("expected reward (exact)")
    ax.set_title("Toy world: the model against its best expert (dashed)")
    ax.legend(fontsize=8)
    return ax.figure


def plot_training(result: Result, ax=None):
    """How often the model's favourite legal move is the reference player's, and the probability it
    gives that move, over training; the experts' pooled data give it the dashed probability."""
    training = result.metrics["training"]
    history = training["history"]
    steps = np.array(history["step"]) + 1
    if ax is None:
        _, ax = figure(width=6.5, height=3.4)
    ax.plot(steps, history["reference_agreement"], "o-", ms=3, label="favourite move = reference's")
    ax.plot(steps, history["reference_probability"], "s-", ms=3, color=PALETTE["vermillion"],
            label="probability of the reference's move")
    ax.axhline(training["expert_reference_agreement"], color=PALETTE["black"], ls="--", lw=1,
               label="experts' share of reference moves")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("training step + 1 (log scale)")
    ax.set_ylabel("on validation positions")
    ax.legend(fontsize=8)
    return ax.figure


def plot_temperature(result: Result, axes=None, cursor: float | None = None):
    """The headline figure: reward on held-out positions (left) and rating on the ladder (right) against
    the sampling temperature, the experts as horizontal lines, a cursor at `cursor`."""
    report = summary(result)
    taus = np.array(report["temperatures"])
    if axes is None:
        _, axes = figure(2, width=11.0, height=3.8)
    left, right = axes
    rewards = [report["model_reward"][str(t)] for t in taus]
    left.plot(taus, rewards, "o-", color=PALETTE["blue"], label="model")
    ratings = np.array([report["model_rating"][str(t)] for t in taus])
    right.errorbar(taus, ratings[:, 0], yerr=[ratings[:, 0] - ratings[:, 1], ratings[:, 2] - ratings[:, 0]],
                   fmt="o-", color=PALETTE["blue"], capsize=3, label="model (95% interval)")
    for i, (reward, rating) in enumerate(zip(report["expert_reward"], report["expert_ratings"])):
        label = "experts" if i == 0 else None
        left.axhline(reward, color=PALETTE["vermillion"], ls="--", lw=1, label=label)
        right.axhspan(rating[1], rating[2], color=PALETTE["vermillion"], alpha=0.12, label=label)
        right.axhline(rating[0], color=PALETTE["vermillion"], ls="--", lw=1)
    for ax, what in ((left, "mean reward per move (pawns)"), (right, "Elo rating (100% random mover = 0)")):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("sampling temperature tau (colder to the right)")
        ax.set_ylabel(what)
        if cursor is not None:
            ax.axvline(cursor, color=PALETTE["black"], lw=1)
    left.set_title("Reward on held-out positions")
    right.set_title("Rating on the ladder")
    left.legend(fontsize=8, loc="lower right")
    right.legend(fontsize=8, loc="lower right")
    return left.figure


def plot_gain_histogram(result: Result, ax=None):
    """Per held-out position, the change in expected reward from tau = 1 to tau*, as a histogram (the
    outer bins take everything beyond them), as the paper draws it over states."""
    histogram = summary(result)["gain_histogram"]
    edges, counts = np.array(histogram["edges"]), np.array(histogram["counts"])
    if ax is None:
        _, ax = figure(width=6.5, height=3.4)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=PALETTE["blue"], edgecolor="white")
    ax.axvline(0, color=PALETTE["black"], lw=1)
    ax.set_xlabel("reward at tau* minus reward at tau = 1 (pawns)")
    ax.set_ylabel("held-out positions")
    ax.set_title("What cooling changes, position by position")
    return ax.figure


ABLATION_ROWS = (("main run: model against the best expert", None),
                 ("the best expert alone: model against it", "single_expert"),
                 ("no relative head: model against the best expert", "no_head"),
                 ("blind spots, diverse: model against the best", "diverse"),
                 ("blind spots, shared: model against the best", "shared"),
                 ("random experts: model against the best", "random_experts"))


def plot_ablations(report: dict, ax=None):
    """The reward gain at tau* over the best expert, with its paired 95% interval, for the main run and
    each ablation of `reproduce`'s report."""
    if ax is None:
        _, ax = figure(width=7.5, height=3.2)
    rows = []
    for label, name in ABLATION_ROWS:
        if name is None:
            rows.append((label, report["gain_over_best_ci"]))
        elif name in ("diverse", "shared"):
            rows.append((label, report["diversity"][name]["gain_ci"]))
        else:
            rows.append((label, report[name]["gain_ci"]))
    for y, (_, (low, high)) in enumerate(rows[::-1]):
        colour = PALETTE["blue"] if low > 0 else (PALETTE["vermillion"] if high < 0 else PALETTE["black"])
        ax.plot([low, high], [y, y], color=colour, lw=3)
        ax.plot([(low + high) / 2], [y], "o", color=colour)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows[::-1]], fontsize=8)
    ax.axvline(0, color=PALETTE["black"], lw=1, ls=":")
    ax.set_xlabel("reward gain at tau* (pawns per move), 95% paired interval")
    ax.set_title("Who transcends, and which control does not")
    return ax.figure




def board_svg(comparison: dict, size: int = 300) -> str:
    """The position as python-chess SVG: the model's likelier moves as green arrows (each with at least
    ARROW_SHARE of its probability), the experts' moves as blue (the reference's move) or red (an error)."""
    arrows = []
    for move in set(comparison["experts"]):
        colour = "#0072B288" if move == comparison["reference"] else "#D55E0088"
        arrows.append(chess.svg.Arrow(move.from_square, move.to_square, color=colour))
    arrows += [chess.svg.Arrow(m.from_square, m.to_square, color="#009E73cc")  # on top of the experts'
               for m, p in zip(comparison["moves"], comparison["model"]) if p >= ARROW_SHARE]
    board = comparison["board"]
    drawn = chess.svg.board(board, arrows=arrows, size=size, orientation=board.turn)
    title = (f"Chess position {board.fen()}, {'white' if board.turn else 'black'} to move. Green arrows: the "
             "model's likelier moves; blue: the reference player's move; red: the experts' errors.")
    # a <title> is the board's text alternative, on the page (book/_ext/figure_alt.py) and for screen readers
    return drawn.replace(">", f"><title>{html.escape(title)}</title>", 1)


def describe_moves(comparison: dict, top: int = 3) -> list[str]:
    """Lines of text: the model's likeliest moves with their probabilities and rewards, the experts' moves."""
    board, moves, rewards = comparison["board"], comparison["moves"], comparison["rewards"]
    order = np.argsort(comparison["model"])[::-1][:top]
    lines = ["model: " + ", ".join(f"{board.san(moves[i])} {comparison['model'][i]:.0%} ({rewards[i]:+.1f})"
                                   for i in order)]
    for n, move in enumerate(comparison["experts"]):
        tag = "reference's move" if move == comparison["reference"] else "error"
        lines.append(f"expert {n + 1}: {board.san(move)} ({rewards[moves.index(move)]:+.1f}, {tag})")
    return lines


def showcase_position(result: Result) -> int:
    """A held-out position for the explorer: the largest gain from cooling among those where the experts
    disagree with one another."""
    config = chess_config(result)
    gain = gains_over_temperature_one(result)
    experts = make_experts(config)
    for index in np.argsort(gain)[::-1][:50]:
        board = position(result, int(index))
        if len({e.move(board) for e in experts}) > 1:
            return int(index)
    return int(np.argmax(gain))


def _composite_svg(chart_png: bytes, chart_size: tuple[int, int], board: str, board_size: int,
                   lines: list[str]) -> bytes:
    """One SVG: a chart (PNG) on top, and below it a python-chess board beside lines of text."""
    width, height = chart_size[0], chart_size[1] + board_size + 10
    board = board[board.index("<svg"):].replace("<svg ", f'<svg x="0" y="{chart_size[1] + 10}" ', 1)
    chart = base64.b64encode(chart_png).decode()
    text = "".join(f'<text x="{board_size + 16}" y="{chart_size[1] + 40 + 24 * i}" font-family="monospace" '
                   f'font-size="14" fill="black">{html.escape(line)}</text>' for i, line in enumerate(lines))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<image x="0" y="0" width="{chart_size[0]}" height="{chart_size[1]}" '
            f'href="data:image/png;base64,{chart}" xlink:href="data:image/png;base64,{chart}"/>'
            f"{board}{text}</svg>").encode()


EXPLORER_VERSION = 2


def explorer(result: Result):
    """A temperature slider: reward and rating curves with a cursor, and a held-out position where the
    model's moves at that temperature are drawn beside each expert's."""
    config = chess_config(result)
    model, _ = load_policy(config)
    index = showcase_position(result)
    dpi, board_size = 80, 300

    def draw(tau: float) -> bytes:
        comparison = move_comparison(result, index, tau, model)
        fig, axes = figure(2, width=9.0, height=3.8)
        plot_temperature(result, axes=axes, cursor=tau)
        png = to_png(fig, dpi=dpi)
        model_line, *expert_lines = describe_moves(comparison)
        lines = [f"tau = {tau:g}", "", "the model's likeliest moves:",
                 *[f"  {part}" for part in model_line.removeprefix("model: ").split(", ")], "", *expert_lines]
        return _composite_svg(png, (int(9.0 * dpi), int(3.8 * dpi)), board_svg(comparison, board_size), board_size,
                              lines)

    def build() -> Explorer:
        taus = sorted(config.temperatures, reverse=True)
        return Explorer([draw(tau) for tau in taus], [f"tau = {tau:g}" for tau in taus], name="tau",
                        title="Cool the model: its reward and rating, and its moves in one position "
                              "(green: the model's likelier moves; blue: an expert playing the reference's move; "
                              "red: an expert's error)", start=0)

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=repr(config))


# ----------------------------------------------------------------------------- live widgets

def toy_widget():
    """Knobs of the toy world: the experts' number, noise, error regions and their diversity."""
    experts = widgets.IntSlider(value=3, min=1, max=8, description="experts")
    noise = widgets.FloatSlider(value=0.0, min=0.0, max=0.9, step=0.05, description="noise")
    share = widgets.FloatSlider(value=0.3, min=0.0, max=1.0, step=0.05, description="error share")
    strength = widgets.FloatSlider(value=0.7, min=0.0, max=1.0, step=0.05, description="error strength")
    diversity = widgets.Dropdown(options=DIVERSITY, value="diverse", description="diversity")

    def compute():
        config = ToyConfig(experts=experts.value, noise=noise.value, error_share=share.value,
                           error_strength=strength.value, diversity=diversity.value)
        taus = tuple(np.geomspace(1, 1e-3, 13))
        found = toy_summary(config, taus)
        print(f"experts' rewards {np.round(found['expert_rewards'], 3)}; vote {found['argmax_reward']:.3f}; "
              f"gain over the best expert {found['gain']:+.3f}")
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot(taus, list(found["model_reward"].values()), "o-", label="model")
        ax.axhline(max(found["expert_rewards"]), ls="--", color="gray", label="best expert")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("tau")
        ax.set_ylabel("expected reward")
        ax.legend()
        plt.show()

    return retrain_panel([[experts, noise], [share, strength], [diversity]], compute)


def play_widget(result: Result):
    """Play a game against the model at a temperature of your choice: type moves in SAN (e4, Nf3) or UCI."""
    from IPython.display import SVG, display

    config = chess_config(result)
    model, _ = load_policy(config)
    state = {"board": chess.Board(), "rng": np.random.default_rng()}
    tau = widgets.Dropdown(options=list(config.temperatures), value=config.tau_star, description="tau")
    colour = widgets.Dropdown(options=["White", "Black"], value="White", description="you play")
    move = widgets.Text(placeholder="your move, e.g. e4, then Enter", description="move", continuous_update=False)
    new_game = widgets.Button(description="New game")
    output = widgets.Output()

    def show(message: str = ""):
        board = state["board"]
        output.clear_output()
        with output:
            display(SVG(chess.svg.board(board, size=320, orientation=colour.value == "White",
                                        lastmove=board.peek() if board.move_stack else None)))
            over = _finished(board, len(board.move_stack), 10**6, 0)
            print(message or ("Game over: " + over[1] if over else "Your move."))

    def model_moves():
        board = state["board"]
        if candidate_moves(board) and _finished(board, len(board.move_stack), 10**6, 0) is None:
            board.push(ModelPlayer(model, config.model, tau.value).choose([board], [state["rng"]])[0])

    def start(_=None):
        state["board"] = chess.Board()
        if colour.value == "Black":
            model_moves()
        show()

    def submit(change):
        board = state["board"]
        text = change["new"].strip()
        if not text:
            return
        move.value = ""
        try:
            played = board.parse_san(text)
        except ValueError:
            try:
                played = board.parse_uci(text)
                if played not in board.legal_moves:
                    raise ValueError
            except ValueError:
                show(f"{text!r} is not a legal move here; legal: {', '.join(board.san(m) for m in board.legal_moves)}")
                return
        board.push(played)
        model_moves()
        show()

    move.observe(submit, "value")
    new_game.on_click(start)
    start()
    return widgets.VBox([widgets.HBox([tau, colour, new_game]), move, output])


def reproducibility_card(result: Result) -> dict:
    return card(NAME, VERSION, result, model_parameters=result.metrics["training"]["parameters"],
                training_examples=result.metrics["training"]["examples"],
                games_rated=len(result.metrics["games"]),
                stockfish="second judge and top rung" if chess_config(result).stockfish else "not installed, not used",
                full_scale=SCALES["full"])
