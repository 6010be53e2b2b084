"""Distilling a student (Self-Forcing + DMD) on a tiny synthetic world: it runs, resumes at the same
iteration with the same weights as an uninterrupted run, falls back to the previous checkpoint
when the newest is corrupt, exports a world checkpoint the learned backend plays, and refuses
mismatched teacher / student / tokenizer trios by name."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from loci.models import CausalDiT, DiTConfig, Tokenizer, TokenizerConfig
from loci.models.checkpoint import load_checkpoint, previous_path, save_checkpoint
from loci.models.loading import load_world_model
from loci.training.student import StudentTrainConfig, train_student
from loci.world import World, WorldConfig
from tests.training.test_world_training import DIT as WORLD_DIT
from tests.training.test_world_training import SIZE, TOK, episodes_and_tokenizer

DIT = dataclasses.replace(WORLD_DIT, cond_channels=6)  # the world test's tiny models, with memory


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    tok = episodes_and_tokenizer(root)
    teacher = CausalDiT(DIT)
    torch.nn.init.normal_(teacher.head.head.weight, std=0.05)
    teacher_path = save_checkpoint(root / "teacher.safetensors", teacher, DIT, "world")
    cfg = StudentTrainConfig(
        data_dir=str(root / "data"),
        eval_dir=str(root / "data"),
        tokenizer=str(tok),
        teacher=str(teacher_path),
        checkpoint_dir=str(root / "ckpt"),
        window=4,
        kv_window=4,
        denoising_steps=2,
        steps=2,
        critic_updates=2,
        batch_size=2,
        lr=1e-3,
        critic_lr=1e-3,
        warmup_steps=0,
        eval_every=2,
        eval_batches=1,
        checkpoint_every=1,
        num_threads=1,
        progress=False,
    )
    return root, cfg


def weights(path):
    return load_checkpoint(path).model_state


def test_distillation_runs_and_changes_the_student(setup):
    root, cfg = setup
    path = train_student(cfg)
    student, teacher = load_world_model(path), load_world_model(cfg.teacher)
    assert student.config == DIT
    moved = [k for k, v in teacher.state_dict().items() if not torch.equal(v, student.state_dict()[k])]
    assert moved  # the DMD steps moved the student off the teacher
    train = load_checkpoint(root / "ckpt" / "student_train.safetensors", "student_train")
    assert train.step == 4  # 2 student updates × 2 critic updates
    last = train.extra["history"][-1]
    assert all(np.isfinite(last[k]) for k in ("dmd_loss", "critic_loss", "gap", "val_rollout_mse"))
    assert previous_path(root / "ckpt" / "student_train.safetensors").is_file()


def test_resume_continues_exactly(setup):
    """Interrupted after 2 of 3 student steps (the newest checkpoint removed, the one before it
    restored) and resumed, the run ends with the weights of the uninterrupted one."""
    root, cfg = setup
    straight = train_student(dataclasses.replace(cfg, checkpoint_dir=str(root / "a"), steps=3))
    c = dataclasses.replace(cfg, checkpoint_dir=str(root / "b"), steps=3)
    train_student(c)
    newest = root / "b" / "student_train.safetensors"
    os.replace(previous_path(newest), newest)  # back to the state after step 2
    assert load_checkpoint(newest).step == 4
    resumed = train_student(c)
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous(setup, capsys):
    root, cfg = setup
    c = dataclasses.replace(cfg, checkpoint_dir=str(root / "c"), steps=2)
    train_student(c)
    newest = root / "c" / "student_train.safetensors"
    prev_step = load_checkpoint(previous_path(newest)).step
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF  # a flipped bit in the tensor data
    newest.write_bytes(bytes(data))
    train_student(dataclasses.replace(c, steps=3))
    captured = capsys.readouterr()
    assert "newest checkpoint was skipped" in captured.out + captured.err
    assert load_checkpoint(newest).step == 6 and prev_step == 2
    # both unreadable: a clear error naming them
    newest.write_bytes(b"garbage")
    previous_path(newest).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no good checkpoint to resume from"):
        train_student(dataclasses.replace(c, steps=4))


def test_mismatched_trios_are_refused(setup):
    root, cfg = setup
    other = DiTConfig(**{**DIT.__dict__, "cond_channels": 0})
    bad = save_checkpoint(root / "other.safetensors", CausalDiT(other), other, "world")
    with pytest.raises(ValueError, match="differ in cond_channels"):
        train_student(dataclasses.replace(cfg, checkpoint_dir=str(root / "d"), student_init=str(bad)))
    tok8 = TokenizerConfig(**{**TOK.__dict__, "latent_channels": 8})
    t8 = save_checkpoint(root / "tok8.safetensors", Tokenizer(tok8), tok8, "tokenizer")
    with pytest.raises(ValueError, match="latent channels"):
        train_student(dataclasses.replace(cfg, checkpoint_dir=str(root / "e"), tokenizer=str(t8)))
    with pytest.raises(ValueError, match="kv_window"):
        StudentTrainConfig(**{**cfg.__dict__, "window": 6, "kv_window": 4})


def test_the_exported_student_plays_from_noise(setup):
    _, cfg = setup
    path = train_student(cfg)
    world = World(
        WorldConfig(
            backend="student",
            tokenizer_checkpoint=cfg.tokenizer,
            world_checkpoint=str(path),
            collision_m=None,
        )
    )
    rng = np.random.default_rng(0)
    session = world.start(
        rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8), rng.uniform(1, 5, SIZE).astype(np.float32)
    )
    frames = [session.step("W").rgb for _ in range(3)]
    assert all(f.shape == (*SIZE, 3) and f.dtype == np.uint8 for f in frames)
    assert not session.frame.coverage.any()  # compositing off: every pixel is the student's
