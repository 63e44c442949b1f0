"""``finesift.train.train`` on a tiny random Llama: learning, logging, and every recovery path."""

from __future__ import annotations

import math

import orjson
import pytest
import torch
from transformers import TrainerCallback

from finesift.errors import ConfigError
from finesift.train import train
from finesift.train.recovery import TrainingError

pytestmark = pytest.mark.slow


def _metrics(run_dir):
    return [orjson.loads(line) for line in (run_dir / "metrics.jsonl").read_bytes().splitlines()]


def _train_lines(run_dir):
    return [m for m in _metrics(run_dir) if m["kind"] == "train"]


class Snapshot(TrainerCallback):
    """Copies trainable and one frozen parameter at the start of the first attempt."""

    def __init__(self):
        self.trainable = self.frozen = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.trainable is None:
            self.trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            self.frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


class InjectOOM(TrainerCallback):
    """Raises an out-of-memory error from the model's forward once ``at_step`` optimizer steps are done,
    whenever a micro-batch has more than ``max_rows`` rows (``max_rows=0``: always)."""

    def __init__(self, at_step: int, max_rows: int):
        self.at_step, self.max_rows = at_step, max_rows
        self.state = None
        self.installed = False
        self.raised = 0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.state = state
        if not self.installed:
            # the embedding layer runs in every forward pass, whichever way the loss is computed
            model.get_input_embeddings().register_forward_pre_hook(self._hook, with_kwargs=True)
            self.installed = True

    def on_step_begin(self, args, state, control, **kwargs):
        self.state = state

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]
        if self.state.global_step >= self.at_step and ids.shape[0] > self.max_rows:
            self.raised += 1
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected, micro-batch {ids.shape[0]})")


def test_trains_adapter_logs_loss_and_writes_run_dir(train_file, eval_file, fast, tmp_path):
    snap = Snapshot()
    out = tmp_path / "run"
    r = train(train_file, out, {**fast, "learning_rate": 1e-2, "eval_data": str(eval_file), "eval_steps": 3},
              callbacks=[snap])
    after = dict(r.model.named_parameters())
    changed = [n for n, v in snap.trainable.items() if not torch.equal(v, after[n].detach())]
    assert changed and all("lora_" in n for n in snap.trainable)
    assert any("lora_B" in n for n in changed)  # B starts at zero: moving it is what trains the adapter
    assert all(torch.equal(v, after[n].detach()) for n, v in snap.frozen.items())  # the base stays frozen

    lines = _train_lines(out)
    assert [m["step"] for m in lines] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(m["loss"]) and "learning_rate" in m and "grad_norm" in m for m in lines)
    assert lines[-1]["loss"] < lines[0]["loss"]
    evals = [m for m in _metrics(out) if m["kind"] == "eval"]
    assert [m["step"] for m in evals] == [3, 6]

    s = orjson.loads((out / "summary.json").read_bytes())
    assert s["status"] == "completed" and s["steps"] == 6 and s["events"] == []
    assert s["config"]["model"] == fast["model"] and s["config"]["max_steps"] == 6
    assert s["config"]["device"] == "cpu" and s["config"]["precision"] == "fp32"
    assert s["data"]["examples"] == 40 and s["tokens"] > 0 and s["loss"]["final_eval"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert not (out / "checkpoints").exists()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(fast["model"]), out / "adapter")
    name = next(n for n in changed if "lora_B" in n)
    assert torch.allclose(dict(reloaded.named_parameters())[name], after[name].detach())


def test_default_precision_and_holdout(train_file, fast, tmp_path):
    cfg = {**fast, "max_steps": 2, "eval_holdout": 0.1, "eval_holdout_min_rows": 10}
    cfg.pop("precision")
    r = train(train_file, tmp_path / "run", cfg)
    assert r.summary["config"]["precision"] in ("bf16", "fp32")
    assert r.summary["eval"] == {"source": "holdout", "examples": 4}
    assert r.summary["data"]["examples"] == 36


def test_oom_halves_micro_batch_and_continues_from_last_step(train_file, fast, tmp_path):
    cfg = {**fast, "learning_rate": 5e-3}
    ref = train(train_file, tmp_path / "ref", cfg)
    inject = InjectOOM(at_step=2, max_rows=1)  # step 3 fails at micro-batch 4 and 2, fits at 1
    r = train(train_file, tmp_path / "oom", cfg, callbacks=[inject])
    out = tmp_path / "oom"

    ooms = [e for e in r.summary["events"] if e["kind"] == "oom"]
    assert len(ooms) == 2 and inject.raised == 2
    assert "micro-batch 4 -> 2, gradient accumulation 1 -> 2 (effective batch stays 4)" in ooms[0]["message"]
    assert "micro-batch 2 -> 1" in ooms[1]["message"] and "resuming from step 2" in ooms[1]["message"]
    assert r.summary["plan"]["final"] == {"micro_batch_size": 1, "grad_accum": 4, "gradient_checkpointing": False,
                                          "learning_rate": 5e-3}
    assert "micro-batch 4 -> 2" in (out / "train.log").read_text()

    lines = _train_lines(out)
    assert [m["step"] for m in lines] == [1, 2, 3, 4, 5, 6]  # no step repeated, none skipped
    assert [m["attempt"] for m in lines] == [1, 1, 3, 3, 3, 3]
    # Same effective batch, same data order: the trajectory matches the uninterrupted run.
    ref_losses = [m["loss"] for m in _train_lines(tmp_path / "ref")]
    assert [m["loss"] for m in lines] == pytest.approx(ref_losses, rel=1e-3)
    assert r.summary["steps"] == 6


def test_oom_at_micro_batch_one_stops_with_clear_message(train_file, fast, tmp_path):
    with pytest.raises(TrainingError, match="micro-batch 1 and gradient checkpointing.*--max-length"):
        train(train_file, tmp_path / "run", fast, callbacks=[InjectOOM(at_step=1, max_rows=0)])
    log = (tmp_path / "run" / "train.log").read_text()
    assert "micro-batch 4 -> 2" in log and "micro-batch 2 -> 1" in log and "gradient checkpointing turned on" in log


def test_diverging_learning_rate_rolls_back_retries_and_reports(train_file, fast, tmp_path):
    r = train(train_file, tmp_path / "run", {**fast, "learning_rate": 1e3, "divergence_retries": 2})
    kinds = [e["kind"] for e in r.summary["events"]]
    assert kinds == ["diverged", "rollback", "diverged", "rollback", "diverged", "gave_up"]
    lrs = [e["details"]["learning_rate"] for e in r.summary["events"] if e["kind"] == "rollback"]
    assert lrs == [500.0, 250.0]
    assert r.summary["status"] == "diverged" and r.summary["attempts"] == 3
    assert "still diverging after 2 retries" in r.summary["events"][-1]["message"]
    # the adapter left behind is not the diverged one
    s = r.summary
    assert s["restored_checkpoint_step"] is None or s["restored_checkpoint_step"] < s["steps_run"]
    assert all(torch.isfinite(p).all() for n, p in r.model.named_parameters() if "lora_" in n)


class InjectNaN(TrainerCallback):
    def __init__(self, step):
        self.step, self.fired = step, False

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and state.global_step == self.step and not self.fired:
            self.fired = True
            logs["loss"] = float("nan")


def test_divergence_rolls_back_to_best_checkpoint_and_finishes_with_lower_lr(train_file, fast, tmp_path):
    cfg = {**fast, "learning_rate": 4e-3, "save_steps": 1}
    r = train(train_file, tmp_path / "run", cfg, callbacks=[InjectNaN(step=4)])
    kinds = [e["kind"] for e in r.summary["events"]]
    assert kinds == ["diverged", "rollback"]
    rollback = r.summary["events"][1]
    # loss at step 4 judged checkpoint 3's weights: they are discarded, checkpoint 2 is the best healthy one
    assert rollback["details"]["to_step"] == 2 and rollback["details"]["learning_rate"] == pytest.approx(2e-3)
    assert r.summary["status"] == "completed" and r.summary["steps"] == 6
    lines = _train_lines(tmp_path / "run")
    second = [m for m in lines if m["attempt"] == 2]
    assert [m["step"] for m in second] == [3, 4, 5, 6]
    first_lr3 = next(m["learning_rate"] for m in lines if m["attempt"] == 1 and m["step"] == 3)
    assert second[0]["learning_rate"] == pytest.approx(first_lr3 / 2)  # same schedule point, half the peak


class RisingEval(TrainerCallback):
    """Replaces eval losses by a sequence that improves twice, then rises."""

    def __init__(self, values):
        self.values = list(values)
        self.saved = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "eval_loss" in logs and self.values:
            logs["eval_loss"] = self.values.pop(0)

    def on_save(self, args, state, control, model=None, **kwargs):
        from finesift.train.lora import adapter_state

        self.saved[state.global_step] = adapter_state(model)


def test_early_stop_when_eval_loss_keeps_rising_keeps_best(train_file, eval_file, fast, tmp_path):
    cb = RisingEval([1.0, 0.9, 0.95, 0.97, 0.99, 1.0, 1.1, 1.2])
    cfg = {**fast, "max_steps": 8, "learning_rate": 1e-2, "eval_data": str(eval_file), "eval_steps": 1,
           "early_stopping_patience": 2}
    r = train(train_file, tmp_path / "run", cfg, callbacks=[cb])
    s = r.summary
    assert s["status"] == "early_stopped" and s["steps_run"] == 4
    assert s["restored_checkpoint_step"] == 2 and s["steps"] == 2
    assert [e["kind"] for e in s["events"]] == ["early_stop"]
    from finesift.train.lora import adapter_state

    final = adapter_state(r.model)
    assert all(torch.equal(final[k], cb.saved[2][k]) for k in final)
    assert not all(torch.equal(final[k], cb.saved[4][k]) for k in final)


def test_user_errors_are_clear(train_file, fast, tmp_path):
    with pytest.raises(ConfigError, match="not a local Hugging Face model folder"):
        train(train_file, tmp_path / "a", {**fast, "model": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="micro_batch_size"):
        train(train_file, tmp_path / "b", {**fast, "micro_batch_size": 3})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "precious.txt").write_text("x")
    with pytest.raises(ConfigError, match="not from a finesift run"):
        train(train_file, tmp_path / "c", fast)
