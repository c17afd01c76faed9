"""The transcendence chapter's models: its configuration, the experts' games, the board
transformer trained on their moves, and the model as a player.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import chess
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from companion.core.cache import Result, cached_training
from companion.core.config import check_bool, check_choice, check_float, check_int, resolve_scale
from companion.core.models import Block, Transformer
from companion.core.runtime import derived_generator
from companion.core.training import log_spaced_steps, train

from .players import (
    ERRORS,
    MODEL_KINDS,
    START_TOKEN,
    Committee,
    Expert,
    Game,
    candidate_moves,
    encode_board,
    find_stockfish,
    move_index,
    play_games,
    reference_move,
    uci_token,
)
from .toy import DIVERSITY

NAME = "transcendence"
VERSION = 5  # 4: experts of different strengths, shared experts share wrong moves, optional head, legal moves scored;
# 5: two attention heads instead of four


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class ChessConfig:
    """The chess experiment: experts, their games, the model trained on them, and its evaluation.

    Experts: one copy of the reference player for each of `error_rates`, erring on that share of
    positions (see `Expert`), so the best expert is clearly better than the average. Data:
    `train_games` games between randomly paired experts, each opened with `opening_plies` random moves
    and played to `max_plies`. Model: "board" (a transformer over the 64 squares, read out as from-to
    pairs) or "sequence" (a causal transformer over the game's moves so far), `width` x `layers` x
    `heads`, trained `steps` steps of `batch` with AdamW at `lr`; `relative_head` False leaves out the
    board model's `RelativeHead` (an ablation: the paper's model has no such head). Evaluation:
    `eval_positions` positions from other expert games, at every temperature in `temperatures`
    (`tau_star`, fixed in advance, is the cold one the claims are about); and `ladder_games` games
    against each rung of the reference player with the random-move rates in `ladder`, alternating
    colours. With `stockfish`, Stockfish also judges every move (a second reward beside the material
    one) and plays as a rung of its own."""

    error_rates: tuple = (0.4, 0.6, 0.8)
    errors: str = "hashed"
    diversity: str = "diverse"
    train_games: int = 800
    opening_plies: int = 4
    max_plies: int = 100
    model: str = "board"
    width: int = 32
    layers: int = 1
    heads: int = 2  # 16 dimensions a head: four heads of 8 cost 1.7 times as much a step (benchmarks/RESULTS.md)
    relative_head: bool = True
    steps: int = 1500
    batch: int = 64  # a step of 128 costs twice as much; the book's verdicts stay, but one (benchmarks/RESULTS.md)
    lr: float = 3e-3
    eval_positions: int = 1000
    temperatures: tuple = (1.0, 0.5, 0.3, 0.2, 0.1, 0.03, 0.001)
    tau_star: float = 0.001
    ladder: tuple = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    ladder_games: int = 32
    stockfish: bool = False
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.error_rates, tuple) or not 1 <= len(self.error_rates) <= 16:
            raise ValueError(f"error_rates must be a tuple of 1 to 16 error rates in [0, 1], one per expert, "
                             f"got {self.error_rates!r}")
        for rate in self.error_rates:
            check_float("error_rates", rate, 0, 1)
        check_choice("errors", self.errors, ERRORS)
        check_choice("diversity", self.diversity, DIVERSITY)
        check_int("train_games", self.train_games, 2, 10**6)
        check_int("opening_plies", self.opening_plies, 0, 20)
        check_int("max_plies", self.max_plies, self.opening_plies + 2, 1000)
        check_choice("model", self.model, MODEL_KINDS)
        check_int("width", self.width, 4, 1024)
        check_int("layers", self.layers, 1, 16)
        check_int("heads", self.heads, 1, 16)
        if self.width % self.heads:
            raise ValueError(f"width must be divisible by heads, got width={self.width} and heads={self.heads}")
        check_int("steps", self.steps, 0, 10**6)
        check_int("batch", self.batch, 1, 65536)
        check_float("lr", self.lr, 0, 1, low_inclusive=False)
        check_int("eval_positions", self.eval_positions, 10, 10**6)
        if not isinstance(self.temperatures, tuple) or not self.temperatures:
            raise ValueError(f"temperatures must be a non-empty tuple of numbers > 0, got {self.temperatures!r}")
        for tau in self.temperatures:
            check_float("temperatures", tau, 0, 100, low_inclusive=False)
        if self.tau_star not in self.temperatures or 1.0 not in self.temperatures:
            raise ValueError(f"temperatures must contain 1.0 and tau_star={self.tau_star}, got {self.temperatures}")
        if not isinstance(self.ladder, tuple) or len(self.ladder) < 2:
            raise ValueError(f"ladder must be a tuple of at least two random-move rates in [0, 1], got {self.ladder!r}")
        for rate in self.ladder:
            check_float("ladder", rate, 0, 1)
        check_int("ladder_games", self.ladder_games, 2, 10**5)
        check_int("seed", self.seed, 0, 2**31)
        check_bool("stockfish", self.stockfish)
        check_bool("relative_head", self.relative_head)

    @property
    def experts(self) -> int:
        return len(self.error_rates)


SCALES = {
    "test": dict(train_games=300, steps=500, batch=128, eval_positions=300, ladder_games=16,
                 temperatures=(1.0, 0.1, 0.001), ladder=(0.0, 0.4, 0.8, 1.0)),
    "book": {},
    "full": dict(model="sequence", train_games=4000, width=128, layers=4, heads=4, steps=12000, batch=128,
                 eval_positions=3000, ladder_games=60),
}


def config_for(scale: str | None = None, seed: int = 0, **changes) -> ChessConfig:
    """The scale's settings. At book and full scale, Stockfish judges moves and joins the ladder when it
    is installed (`find_stockfish`); the rewards and ratings the claims rest on never depend on it."""
    scale = resolve_scale(scale)
    if scale != "test":
        changes.setdefault("stockfish", find_stockfish() is not None)
    return dataclasses.replace(ChessConfig(**SCALES[scale]), seed=seed, **changes)


def make_experts(config: ChessConfig) -> list[Expert]:
    return [Expert(i, rate, config.errors, config.diversity, config.seed) for i, rate in enumerate(config.error_rates)]


@dataclass(frozen=True)
class GamesConfig:
    """What the experts' training games depend on: the models trained on the same experts' games (the
    main run and the one without its relative head) read them from one cache entry."""

    error_rates: tuple
    errors: str
    diversity: str
    train_games: int
    opening_plies: int
    max_plies: int
    seed: int


@dataclass(frozen=True)
class PolicyConfig(GamesConfig):
    """What a trained model depends on: its games, and how it is built and trained (the evaluation
    settings are left out of its cache key)."""

    model: str
    width: int
    layers: int
    heads: int
    relative_head: bool
    steps: int
    batch: int
    lr: float


def config_part(config: ChessConfig, part: type):
    """The fields of `config` that the dataclass `part` names, as a `part`: a cache key that leaves out
    the settings its entry does not depend on."""
    return part(**{f.name: getattr(config, f.name) for f in dataclasses.fields(part)})


def policy_config(config: ChessConfig) -> PolicyConfig:
    return config_part(config, PolicyConfig)


# ----------------------------------------------------------------------------- the experts' games

def _random_pairings(players: list, count: int, rng: np.random.Generator) -> list[tuple]:
    """`count` (white, black) pairs of randomly drawn players, each pair as often with either colour.
    Experts with blind spots play as a committee instead (see `Committee`)."""
    if players and getattr(players[0], "errors", None) == "blind-spot":
        committee = Committee(players)
        return [(committee, committee)] * count
    pairs = []
    for g in range(count):
        a, b = rng.integers(len(players), size=2)
        pairs.append((players[a], players[b]) if g % 2 == 0 else (players[b], players[a]))
    return pairs


def expert_games(config: ChessConfig, count: int, stream: int) -> tuple[list[Game], dict[str, np.ndarray]]:
    """`count` games between randomly paired experts, and the training examples they hold: every
    expert move, with the board it was played on (`boards`), the move as the board model indexes it
    (`targets`), the reference player's move there (`reference`), and its game and ply."""
    seed = int(np.random.SeedSequence([config.seed, stream]).generate_state(1)[0])
    players = make_experts(config)
    examples = {"boards": [], "targets": [], "reference": [], "game": [], "ply": []}
    legal = []

    def record(game: int, board, move, player, moves) -> None:
        legal.append([move_index(board, m) for m in moves])
        examples["boards"].append(encode_board(board))
        examples["targets"].append(move_index(board, move))
        examples["reference"].append(move_index(board, reference_move(board, moves)))
        examples["game"].append(game)
        examples["ply"].append(len(board.move_stack))

    pairings = _random_pairings(players, count, np.random.default_rng(seed))
    games = play_games(pairings, seed, config.opening_plies, config.max_plies, resign=False, on_move=record)
    examples = {name: np.array(values) for name, values in examples.items()}
    examples["legal"] = np.full((len(legal), max(map(len, legal))), -1, dtype=np.int64)  # padded with -1
    for row, moves in zip(examples["legal"], legal):
        row[:len(moves)] = moves
    return games, examples


# narrow types on disk; the training reads them as int64
_EXAMPLE_DTYPES = {"boards": torch.int8, "targets": torch.int16, "reference": torch.int16, "game": torch.int32,
                   "ply": torch.int16, "legal": torch.int16}


def _training_games(config: GamesConfig, device: torch.device) -> Result:
    games, examples = expert_games(ChessConfig(**dataclasses.asdict(config)), config.train_games, stream=0)
    return Result(metrics={"games": [dataclasses.asdict(game) for game in games]},
                  arrays={name: torch.as_tensor(values).to(_EXAMPLE_DTYPES[name]) for name, values in examples.items()})


def training_games(config: ChessConfig) -> tuple[list[Game], dict[str, np.ndarray]]:
    """`expert_games` for the training data (stream 0), cached on its own."""
    result = cached_training(f"{NAME}-games", VERSION, config_part(config, GamesConfig), _training_games)
    games = [Game(**game) for game in result.metrics["games"]]
    return games, {name: values.numpy().astype(np.int64) for name, values in result.arrays.items()}


def sequence_tokens(games: list[Game], length: int) -> np.ndarray:
    """(games, length + 1) move tokens after a start token, padded with -1."""
    tokens = np.full((len(games), length + 1), -1, dtype=np.int64)
    tokens[:, 0] = START_TOKEN
    for g, game in enumerate(games):
        moves = [uci_token(chess.Move.from_uci(u)) for u in game.moves[:length]]
        tokens[g, 1:len(moves) + 1] = moves
    return tokens


# ----------------------------------------------------------------------------- the models

class RelativeHead(nn.Module):
    """Adds to each legal move's score a learned function of how far it falls below the position's best
    score: logit(a) = s(a) + g(s(a) - max_b s(b)).

    The experts' pooled moves put about 45% on one move (the reference player's) and spread the rest
    thinly over all the others. A score computed move by move cannot say "this is the best move here"
    and so cannot build that peak; g, a small network on one number, can (see the chapter)."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.g = nn.Sequential(nn.Linear(1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, chosen: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, L) scores of the legal moves, -inf where `present` is False (padding) -> (B, L) logits."""
        below = (chosen - chosen.amax(1, keepdim=True)).masked_fill(~present, 0.0)  # (B, L), <= 0
        return (chosen + self.g(below[..., None])[..., 0]).masked_fill(~present, float("-inf"))  # (B, L)


class BoardPolicy(nn.Module):
    """A transformer over the 64 squares (piece codes plus a learned embedding per square) that scores
    a move by a bilinear form in two squares' final states, s(from, to) = <origin(h_from), target(h_to)>,
    then compares each legal move with the best (`RelativeHead`).

    Shapes: boards (B, 64), legal (B, L) move indices padded with -1 -> logits (B, 4096), index
    from * 64 + to in the mover's view, -inf on illegal moves. Only the legal moves are scored (a
    position has about 35 of the 4,096 pairs); `scores` gives all of them, for the evaluation."""

    def __init__(self, width: int, layers: int, heads: int, relative_head: bool = True):
        super().__init__()
        self.embed = nn.Embedding(13, width)
        self.square = nn.Parameter(torch.randn(64, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, 64, relative=False, causal=False, attention_only=False,
                                          layer_norm=True) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.origin = nn.Linear(width, width)
        self.target = nn.Linear(width, width)
        self.head = RelativeHead() if relative_head else None

    def squares(self, boards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64) boards -> each square's origin and target vectors, (B, 64, D) each."""
        x = self.embed(boards) + self.square  # (B, 64, D)
        for block in self.blocks:
            x, _ = block(x)  # (B, 64, D)
        x = self.norm(x)  # (B, 64, D)
        return self.origin(x), self.target(x)

    def scores(self, boards: torch.Tensor) -> torch.Tensor:
        """(B, 4096) the bilinear score of every from-to pair, legal or not."""
        origin, target = self.squares(boards)  # (B, 64, D) each
        return (origin @ target.transpose(1, 2) / math.sqrt(origin.shape[-1])).flatten(1)  # (B, 64, 64) -> (B, 4096)

    def legal_logits(self, boards: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        """(B, L) logits of the legal moves in `legal`'s order, -inf on its padding."""
        origin, target = self.squares(boards)  # (B, 64, D) each
        present = legal >= 0  # (B, L)
        index = legal.clamp(min=0)  # (B, L)
        width = origin.shape[-1]
        start = origin.gather(1, (index // 64)[..., None].expand(-1, -1, width))  # (B, L, D)
        end = target.gather(1, (index % 64)[..., None].expand(-1, -1, width))  # (B, L, D)
        chosen = ((start * end).sum(-1) / math.sqrt(width)).masked_fill(~present, float("-inf"))  # (B, L)
        return chosen if self.head is None else self.head(chosen, present)  # (B, L)

    def forward(self, boards: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        logits = self.legal_logits(boards, legal)  # (B, L)
        present = legal >= 0  # (B, L)
        full = logits.new_full((len(logits), 4097), float("-inf"))  # a last column for the padding
        return full.scatter(1, torch.where(present, legal, 4096), logits)[:, :-1]


def build_policy(config: PolicyConfig) -> nn.Module:
    if config.model == "board":
        return BoardPolicy(config.width, config.layers, config.heads, config.relative_head)
    return Transformer(START_TOKEN + 1, config.width, config.layers, config.heads, max_len=config.max_plies + 1,
                       positional="learned", causal=True, attention_only=False, layer_norm=True, init_std=0.02)


def sequence_logits(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) tokens -> (B, T, 4096) logits over the next move (the start token is never predicted)."""
    return model(tokens.clamp(min=0))[0][..., :START_TOKEN]


def legal_mask(legal: torch.Tensor) -> torch.Tensor:
    """(B, L) candidate indices padded with -1 -> (B, 4096) booleans."""
    mask = torch.zeros(len(legal), 4097, dtype=torch.bool)
    mask.scatter_(1, torch.where(legal < 0, 4096, legal), True)
    return mask[:, :4096]


def masked_logits(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~legal_mask(legal), float("-inf"))


def _board_batches(examples: dict, batch: int, generator: torch.Generator):
    boards, targets = torch.as_tensor(examples["boards"]), torch.as_tensor(examples["targets"])
    legal = torch.as_tensor(examples["legal"])

    def draw(step: int):
        picked = torch.randint(len(targets), (batch,), generator=generator)
        return boards[picked], targets[picked], legal[picked]
    return draw


def _board_loss(model, boards, targets, legal):
    """Cross-entropy over the legal moves alone: the target's column in `legal`, not in all 4,096 pairs."""
    column = (legal == targets[:, None]).int().argmax(1)
    return F.cross_entropy(model.legal_logits(boards, legal), column)


def _sequence_batches(tokens: np.ndarray, opening_plies: int, batch: int, generator: torch.Generator):
    """Whole games, `batch // 32` per step (a game holds about a hundred moves); the loss skips the random
    opening moves, which no expert chose."""
    tokens = torch.as_tensor(tokens)
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    targets[:, :opening_plies] = -1

    def draw(step: int):
        picked = torch.randint(len(tokens), (max(1, batch // 32),), generator=generator)
        return inputs[picked], targets[picked]
    return draw


def _sequence_loss(model, inputs, targets):
    return F.cross_entropy(sequence_logits(model, inputs).flatten(0, 1), targets.flatten(), ignore_index=-1)


VALIDATION_EXAMPLES = 1024  # enough to follow training; all of them would cost more than the training


def _train_policy(config: PolicyConfig, device: torch.device) -> Result:
    started = time.perf_counter()
    games, examples = training_games(ChessConfig(**dataclasses.asdict(config)))
    held_out = examples["game"] >= int(0.9 * config.train_games)  # the last tenth of the games: validation
    train_part = {k: v[~held_out] for k, v in examples.items()}
    valid = {k: torch.as_tensor(v[held_out][:VALIDATION_EXAMPLES]) for k, v in examples.items()}
    generator = derived_generator(config.seed, 1)
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    model = build_policy(config).to(device)
    if config.model == "board":
        batch, loss = _board_batches(train_part, config.batch, generator), _board_loss
    else:
        train_games = [g for i, g in enumerate(games) if i < int(0.9 * config.train_games)]
        batch = _sequence_batches(sequence_tokens(train_games, config.max_plies), config.opening_plies,
                                  config.batch, generator)
        loss = _sequence_loss
    valid_games = [g for i, g in enumerate(games) if i >= int(0.9 * config.train_games)]
    valid_tokens = torch.as_tensor(sequence_tokens(valid_games, config.max_plies))

    def evaluate(step: int) -> dict:
        logits = validation_logits(model, config, valid, valid_tokens)
        legal = masked_logits(logits, valid["legal"])  # (already masked for the board model)
        reference_probability = legal.softmax(1).gather(1, valid["reference"][:, None]).mean()
        return {"validation_loss": float(F.cross_entropy(legal, valid["targets"])),
                "reference_probability": float(reference_probability),
                "reference_agreement": float((legal.argmax(1) == valid["reference"]).float().mean()),
                "illegal_top_move": float((legal.argmax(1) != logits.argmax(1)).float().mean())}

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    # the learning rate decays to zero along a cosine: the labels are mostly noise, and a model still
    # taking large steps at the end spreads its probability too thinly to match the experts' mixture
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, config.steps))))
    history = train(model, batch, loss, steps=config.steps, optimizer=optimizer, evaluate=evaluate,
                    eval_steps=log_spaced_steps(config.steps, 10), description="chess model", scheduler=scheduler)
    metrics = {"config": dataclasses.asdict(config), "history": history, "examples": int(len(examples["targets"])),
               "games": len(games), "mean_game_plies": float(np.mean([len(g.moves) for g in games])),
               "expert_reference_agreement": float((examples["targets"] == examples["reference"]).mean()),
               "mixture_reference_probability": float(np.mean(mixture_reference_probability(
                   config.error_rates, (examples["legal"] >= 0).sum(1)))),
               "parameters": sum(p.numel() for p in model.parameters()),
               "sample_pgn": [g.pgn(f"expert games, seed {config.seed}") for g in games[:3]],
               "wall_seconds": time.perf_counter() - started}
    return Result(metrics=metrics, arrays={f"model.{k}": v for k, v in model.state_dict().items()})


def mixture_reference_probability(error_rates, candidates) -> np.ndarray:
    """The probability the experts' pooled moves give the reference's move in a position with
    `candidates` moves, when each expert's hashed errors are spread over all candidates (to a learner they
    are: no board feature predicts them): the average over experts of 1 - r + r / candidates."""
    rate = float(np.mean(error_rates))
    return 1 - rate + rate / np.asarray(candidates, dtype=float)


def validation_logits(model, config: PolicyConfig, valid: dict, valid_tokens: torch.Tensor) -> torch.Tensor:
    """Logits in the board model's move indexing for the validation examples, from either model kind."""
    if config.model == "board":
        return model(valid["boards"], valid["legal"])
    logits = sequence_logits(model, valid_tokens)  # (games, plies, 4096), real-board indexing
    first_game = int(valid["game"].min())
    rows = logits[valid["game"] - first_game, valid["ply"]]
    return _real_to_mover(rows, valid["ply"] % 2 == 1)


_MIRROR = torch.tensor([(f ^ 56) * 64 + (t ^ 56) for f in range(64) for t in range(64)])


def _real_to_mover(logits: torch.Tensor, black_to_move: torch.Tensor) -> torch.Tensor:
    """Re-index real-board from-to logits into the mover's view (mirrored where Black is to move)."""
    return torch.where(black_to_move[:, None], logits[:, _MIRROR], logits)


def train_policy(config: ChessConfig, use_cache: bool = True) -> Result:
    return cached_training(f"{NAME}-model", VERSION, policy_config(config), _train_policy, use_cache=use_cache)


def load_policy(config: ChessConfig, use_cache: bool = True) -> tuple[nn.Module, Result]:
    result = train_policy(config, use_cache)
    model = build_policy(policy_config(config))
    model.load_state_dict({k.removeprefix("model."): v for k, v in result.arrays.items()})
    return model.eval(), result


# ----------------------------------------------------------------------------- the model as a player

def candidate_indices(boards: list) -> torch.Tensor:
    """(N, L) the candidate moves' indices in the mover's view, padded with -1."""
    moves = [[move_index(b, m) for m in candidate_moves(b)] for b in boards]
    padded = torch.full((len(boards), max(map(len, moves))), -1, dtype=torch.long)
    for row, indices in zip(padded, moves):
        row[:len(indices)] = torch.tensor(indices)
    return padded


def policy_logits(model: nn.Module, kind: str, boards: list) -> torch.Tensor:
    """(N, 4096) move logits in the mover's view for a list of boards (the sequence model reads each
    board's move stack, the board model its pieces)."""
    with torch.no_grad():
        if kind == "board":
            return model(torch.as_tensor(np.stack([encode_board(b) for b in boards])), candidate_indices(boards))
        lengths = [len(b.move_stack) for b in boards]
        tokens = torch.full((len(boards), max(lengths) + 1), -1, dtype=torch.long)
        tokens[:, 0] = START_TOKEN
        for row, board in zip(tokens, boards):
            row[1:len(board.move_stack) + 1] = torch.tensor([uci_token(m) for m in board.move_stack], dtype=torch.long)
        last = sequence_logits(model, tokens)[torch.arange(len(boards)), torch.tensor(lengths)]
        return _real_to_mover(last, torch.tensor([not b.turn for b in boards]))


def unmasked_choice_illegal(model: nn.Module, kind: str, boards: list) -> np.ndarray:
    """Whether the model's favourite move, before illegal moves are masked, is illegal: for the board
    model, its move scores before the head (which sees only legal moves); for the sequence model, its
    raw logits over all 4096 from-to pairs."""
    with torch.no_grad():
        if kind == "board":
            raw = model.scores(torch.as_tensor(np.stack([encode_board(b) for b in boards])))
        else:
            raw = policy_logits(model, kind, boards)
    legal = legal_mask(candidate_indices(boards))
    return ~legal.gather(1, raw.argmax(1, keepdim=True))[:, 0].numpy()


def move_distribution(logits_row: torch.Tensor, board, moves, tau: float) -> np.ndarray:
    """The model's distribution over the candidate moves at temperature tau: illegal moves are masked
    out, then softmax(logit / tau)."""
    chosen = logits_row[[move_index(board, m) for m in moves]].double().numpy()
    scaled = (chosen - chosen.max()) / tau
    weights = np.exp(scaled)
    return weights / weights.sum()


class ModelPlayer:
    """The trained model sampling its moves at temperature `tau`, illegal moves masked."""

    def __init__(self, model: nn.Module, kind: str, tau: float):
        self.model, self.kind, self.tau = model, kind, tau
        self.name = f"model, tau = {tau:g}"

    def choose(self, boards, rngs, candidates=None):
        logits = policy_logits(self.model, self.kind, boards)
        chosen = []
        for row, board, rng, moves in zip(logits, boards, rngs, candidates or map(candidate_moves, boards)):
            chosen.append(moves[rng.choice(len(moves), p=move_distribution(row, board, moves, self.tau))])
        return chosen


