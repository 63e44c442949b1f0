"""Recovery decisions without training: the divergence guard, early stopping, OOM plans."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from finesift.train.config import TrainConfig
from finesift.train.recovery import Guard, Plan, is_oom, shrink


def _guard(tmp_path, has_eval=False, **cfg):
    events = []
    return Guard(TrainConfig(**cfg), has_eval, events.append), events


def _ctl():
    return SimpleNamespace(should_training_stop=False, should_evaluate=False, should_save=False)


def _log(g, step, loss, grad=1.0):
    ctl = _ctl()
    g.on_log(None, SimpleNamespace(global_step=step), ctl, logs={"loss": loss, "grad_norm": grad})
    return ctl


def _save(g, tmp_path, step):
    path = tmp_path / f"checkpoint-{step}"
    path.mkdir()
    g.on_save(SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(global_step=step), _ctl())
    return path


@pytest.mark.parametrize("loss,grad", [(float("nan"), 1.0), (float("inf"), 1.0), (2.0, float("nan"))])
def test_non_finite_loss_or_gradient_diverges_at_once(tmp_path, loss, grad):
    g, events = _guard(tmp_path)
    _log(g, 1, 2.0)
    ctl = _log(g, 2, loss, grad)
    assert g.diverged and ctl.should_training_stop and not ctl.should_save
    assert events[-1].kind == "diverged"


def test_smoothed_rise_diverges_but_one_noisy_batch_does_not(tmp_path):
    g, _ = _guard(tmp_path)
    for step, loss in enumerate([3.0, 2.0, 1.5, 1.2, 1.1, 1.0], 1):
        assert not _log(g, step, loss).should_training_stop
    assert not _log(g, 7, 4.0).should_training_stop  # a single bad batch: the EMA stays below 2x best
    g2, _ = _guard(tmp_path)
    for step, loss in enumerate([3.0, 2.0, 1.5, 1.2, 1.1, 1.0], 1):
        _log(g2, step, loss)
    stopped = [_log(g2, s, 10.0).should_training_stop for s in range(7, 12)]
    assert any(stopped) and g2.diverged.startswith("smoothed train loss")


def test_checkpoint_is_judged_by_the_next_loss(tmp_path):
    g, _ = _guard(tmp_path)
    _log(g, 1, 2.0)
    p1 = _save(g, tmp_path, 1)
    assert g.checkpoints[1].pending and g.best_checkpoint() is None
    _log(g, 2, 1.8)  # healthy: checkpoint 1's weights produced this loss
    assert g.best_checkpoint().step == 1
    p2 = _save(g, tmp_path, 2)
    _log(g, 3, float("nan"))  # checkpoint 2's weights diverged: discarded
    assert 2 not in g.checkpoints and not p2.exists()
    assert g.best_checkpoint().step == 1 and p1.exists()


def test_early_stopping_after_patience_evaluations(tmp_path):
    g, events = _guard(tmp_path, has_eval=True, early_stopping_patience=2)
    stops = []
    for step, loss in enumerate([1.0, 0.9, 0.95, 0.97], 1):
        ctl = _ctl()
        g.on_evaluate(None, SimpleNamespace(global_step=step), ctl, metrics={"eval_loss": loss})
        _save(g, tmp_path, step)
        stops.append(ctl.should_training_stop)
    assert stops == [False, False, False, True]
    assert g.early_stopped and events[-1].kind == "early_stop"
    assert g.best_checkpoint().step == 2
    assert sorted(g.checkpoints) == [2, 3, 4]  # best and the two latest kept, the rest pruned
    assert not (tmp_path / "checkpoint-1").exists()


def test_train_divergence_discards_the_checkpoint_that_produced_it_even_with_eval(tmp_path):
    g, _ = _guard(tmp_path, has_eval=True)
    for step, loss in ((2, 1.0), (4, 0.9)):
        g.on_evaluate(None, SimpleNamespace(global_step=step), _ctl(), metrics={"eval_loss": loss})
        _save(g, tmp_path, step)
    _log(g, 5, float("nan"))  # computed with checkpoint 4's weights
    assert sorted(g.checkpoints) == [2] and g.best_checkpoint().step == 2


def test_eval_loss_jump_is_divergence(tmp_path):
    g, _ = _guard(tmp_path, has_eval=True)
    for step, loss in enumerate([1.0, 0.8], 1):
        g.on_evaluate(None, SimpleNamespace(global_step=step), _ctl(), metrics={"eval_loss": loss})
    ctl = _ctl()
    g.on_evaluate(None, SimpleNamespace(global_step=3), ctl, metrics={"eval_loss": 5.0})
    assert g.diverged and ctl.should_training_stop


def test_oom_plan_halves_then_checkpoints_then_gives_up():
    plan = Plan(8, 1, False, 1e-4)
    seen = []
    while (nxt := shrink(plan)) is not None:
        plan, what = nxt
        seen.append((plan.micro_batch_size, plan.grad_accum, plan.gradient_checkpointing))
        assert plan.effective_batch == 8
    assert seen == [(4, 2, False), (2, 4, False), (1, 8, False), (1, 8, True)]


def test_is_oom_recognises_cuda_and_cpu_allocation_failures():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_oom(MemoryError())
    assert not is_oom(RuntimeError("shape mismatch"))
