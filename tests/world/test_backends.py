"""The backend contract and registry: every backend runs through the same ``Session.step``; a new
backend is one class plus one ``register`` call; unknown names are refused naming the known ones."""

import numpy as np
import pytest
import torch

from loci.models import SHIPPED_STUDENT, SHIPPED_WORLD
from loci.world import BACKENDS, Backend, BackendSpec, World, WorldConfig, backend_spec
from loci.world.backends import MemoryWrite, Produced, StepRequest
from loci.world.backends.registry import _SPECS, register
from tests.world.test_world import SIZE, synthetic_start


class Grey(Backend):
    """A test backend: a grey frame at the target pose, half of it remembered (at 2 m)."""

    name = "grey"

    def step(self, request: StepRequest) -> Produced:
        h, w = request.size
        rgb = np.full((h, w, 3), 128, np.uint8)
        depth = np.full((h, w), 2.0, np.float32)
        valid = torch.zeros(h, w, dtype=torch.bool)
        valid[:, : w // 2] = True
        write = MemoryWrite(
            torch.full((3, h, w), 128 / 255), torch.from_numpy(depth), torch.from_numpy(request.K),
            request.pose, valid=valid,
        )  # fmt: skip
        return Produced(rgb, depth, request.pose.numpy(), request.K, np.zeros((h, w), bool), {}, write)


@pytest.fixture
def grey_backend():
    register(BackendSpec("grey", lambda ctx: Grey(), "a grey test frame"))
    yield
    _SPECS.pop("grey")


def test_a_new_backend_is_one_class_and_one_registration(grey_backend):
    rgb, depth, K = synthetic_start()
    s = World(WorldConfig(backend="grey")).start(rgb, depth, K)
    n = len(s.memory)
    target = s.controller.peek("W").numpy()
    f = s.step("W")
    assert (f.rgb == 128).all() and f.index == 1 and f.action == "W"
    np.testing.assert_array_equal(f.pose, target)  # the pose the controls planned, once
    np.testing.assert_array_equal(s.controller.pose.numpy(), target)  # the controls moved there
    assert len(s.memory) > n  # the session wrote what the backend said to remember
    assert {"total_ms", "remember_ms"} <= set(f.timings)


def test_unknown_backends_are_named():
    with pytest.raises(
        ValueError,
        match="unknown backend 'wrap'; valid: warp, copy-last, engine, loci, student, teacher, dit",
    ):
        WorldConfig(backend="wrap")
    with pytest.raises(ValueError, match="unknown backend"):
        backend_spec("")


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="registered already"):
        register(BackendSpec("warp", lambda ctx: None, "again"))


def test_the_registry_says_what_differs_between_backends():
    assert BACKENDS == ("warp", "copy-last", "engine", "loci", "student", "teacher", "dit")
    learned = {n for n in BACKENDS if backend_spec(n).learned}
    assert learned == {"loci", "student", "teacher", "dit"}
    assert {n for n in BACKENDS if backend_spec(n).weights == "student"} == {"student"}
    engine = backend_spec("engine")
    assert not engine.starts_from_image and engine.driven_by == "keys" and engine.resume == "replay"
    assert not backend_spec("copy-last").needs_depth


@pytest.mark.parametrize("name", [n for n in BACKENDS if backend_spec(n).starts_from_image])
def test_every_backend_that_starts_from_an_image_steps_keys_text_and_poses(name):
    rgb, depth, K = synthetic_start()
    # a student has the world model's layout; where none ships, the world model's weights stand in
    weights = (
        SHIPPED_WORLD if backend_spec(name).weights == "student" and not SHIPPED_STUDENT.is_file() else None
    )
    s = World(WorldConfig(backend=name, collision_m=None, world_checkpoint=weights)).start(rgb, depth, K)
    target = s.controller.peek("WQ").numpy()
    f = s.step("WQ")
    np.testing.assert_allclose(f.pose, target, atol=1e-6)
    s.step("turn left 10 degrees")
    goal = np.eye(4, dtype=np.float32)
    f = s.step(goal)
    np.testing.assert_allclose(f.pose, goal, atol=1e-6)
    assert f.rgb.shape == (*SIZE, 3) and f.depth.shape == SIZE and f.coverage.shape == SIZE
    assert s.actions == ["WQ", "turn left 10 degrees", "pose"]


def test_the_engine_moves_itself_and_the_controls_follow():
    from loci.engines import make_engine

    s = World(WorldConfig(backend="engine")).start_from_engine(make_engine("synthetic", size=SIZE), "room", 3)
    for k in "WWQ":
        f = s.step(k)
        np.testing.assert_allclose(s.controller.pose.numpy(), f.pose, atol=1e-6)
    with pytest.raises(ValueError, match="keys only"):
        s.step(np.eye(4))
    assert s.index == 3  # the refused step changed nothing
    np.testing.assert_allclose(s.controller.pose.numpy(), f.pose, atol=1e-6)
