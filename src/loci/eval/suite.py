"""The benchmark suite: fixed, seeded scenarios on held-out levels only (never the training split)."""

from __future__ import annotations

from dataclasses import dataclass

from loci.data.splits import split_of


@dataclass(frozen=True)
class Scenario:
    """A way of moving: a scripted key pattern (repeated) or an exploration policy, for ``frames`` frames."""

    name: str
    frames: int
    keys: str | None = None
    policy: str | None = None

    def __post_init__(self) -> None:
        if (self.keys is None) == (self.policy is None):
            raise ValueError(f"scenario {self.name}: give exactly one of keys or policy")
        if self.frames < 2:
            raise ValueError(f"scenario {self.name}: needs at least 2 frames")


@dataclass(frozen=True)
class Case:
    """One benchmark case: a scenario on an engine level from a seeded start."""

    engine: str
    level: str
    seed: int
    scenario: Scenario

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.level}-s{self.seed}-{self.scenario.name}"


def scenarios(scale: int) -> tuple[Scenario, ...]:
    """The five scenarios; ``scale`` = 1 for the full suite, larger for shorter quick runs."""
    return (
        Scenario("straight", max(17, 64 // scale), keys="W"),
        Scenario("turns", max(17, 64 // scale), keys="WQWQWQWEWEWE"),
        Scenario("pan", max(17, 36 // scale), keys="E"),
        Scenario("loop_back", max(129, 160 // scale), policy="loop_back"),
        Scenario("random_walk", max(65, 257 // scale), policy="random_walk"),
    )


VIZDOOM_TEST = ("MAP25", "MAP26", "MAP27", "MAP28", "MAP29", "MAP30", "MAP31", "MAP32")
MINIWORLD_TEST = (
    ("FourRooms", 1_000_000),
    ("MazeS3", 1_000_001),
    ("OneRoom", 1_000_002),
    ("Hallway", 1_000_003),
)


def build_suite(quick: bool, engines: tuple[str, ...] = ("vizdoom", "miniworld")) -> list[Case]:
    """The fixed suite: every scenario on every held-out start.

    ``quick``: one case per scenario, shortened, the held-out starts taken in turn (scenario i on
    start i mod n), so a few minutes on 2 cores still see several levels of each engine.
    """
    cases = []
    for engine in engines:
        if engine == "vizdoom":
            starts = [(lvl, 100 + i) for i, lvl in enumerate(VIZDOOM_TEST)]
        elif engine == "miniworld":
            starts = list(MINIWORLD_TEST)
        elif engine == "synthetic":
            starts = [("room", 1_000_000 + i) for i in range(4)]
        else:
            raise ValueError(f"no benchmark levels for engine {engine!r}")
        if quick:
            plan = [(*starts[i % len(starts)], sc) for i, sc in enumerate(scenarios(2))]
        else:
            plan = [(level, seed, sc) for level, seed in starts for sc in scenarios(1)]
        for level, seed, sc in plan:
            if split_of(engine, level, seed) != "test":
                raise AssertionError(f"benchmark case {engine}/{level}/{seed} is not in the test split")
            cases.append(Case(engine, level, seed, sc))
    return cases
