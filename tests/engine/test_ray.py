"""The Ray engine: the same audit and curate as the local engine, checks run on Ray workers.

One local Ray instance with 2 CPUs serves the whole module (starting one takes seconds).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

import finesift
from finesift.checks.base import DatasetCheck, RowCheck, Score, batch_positions
from finesift.engine import local
from finesift.engine import ray as ray_engine
from finesift.engine._choice import engine_scope
from finesift.errors import ConfigError, InputError, MissingDependencyError

BATCH = 8  # rows per block: the fixture spans 6 blocks


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    tests_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # the toy checks below live in this test module: workers import it from the repository root
    path = os.pathsep.join([tests_root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # num_gpus=1: a logical GPU (none is attached here), so placement of model stages can be seen
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        yield
    finally:
        ray.shutdown()


_WHO = [("The baker", "Le boulanger"), ("My sister", "Ma sœur"), ("The old farmer", "Le vieux fermier"),
        ("Our teacher", "Notre professeur"), ("A tired doctor", "Un médecin fatigué"), ("The mayor", "Le maire"),
        ("His cousin", "Son cousin"), ("The pilot", "Le pilote"), ("Your neighbour", "Votre voisin"),
        ("The young painter", "Le jeune peintre"), ("A quiet student", "Un étudiant calme")]
_DOES = [("reads", "lit"), ("sells", "vend"), ("repairs", "répare"), ("paints", "peint")]
_WHAT = [("a long letter every morning", "une longue lettre chaque matin"),
         ("old bicycles near the station", "de vieux vélos près de la gare"),
         ("the broken clock before dinner", "l'horloge cassée avant le dîner"),
         ("blue boats on Sundays", "des bateaux bleus le dimanche"),
         ("a map of the northern islands", "une carte des îles du nord"),
         ("strange stories about wolves", "des histoires étranges sur les loups"),
         ("heavy furniture for the school", "des meubles lourds pour l'école"),
         ("fresh bread at noon", "du pain frais à midi"),
         ("the roof of the church", "le toit de l'église"),
         ("small gardens in winter", "de petits jardins en hiver"),
         ("cheap watches in the market", "des montres bon marché au marché")]


def _rows() -> list[dict]:
    """Distinct translation rows, with an exact duplicate, a near duplicate and a conflict each spanning
    the first and the last block, and a duplicate in the middle."""
    rows = []
    for i in range(44):
        (who, qui), (does, fait), (what, quoi) = _WHO[i % 11], _DOES[i // 11], _WHAT[(i * 5 + i // 11) % 11]
        rows.append({"id": f"r{i}", "instruction": f"Translate to French: {who} {does} {what}.",
                     "output": f"{qui} {fait} {quoi}.", "source": f"s{i % 3}"})
    rows[3]["output"] = ""  # empty_output in block 1
    rows[41] = dict(rows[1], id="r41")  # exact duplicate: block 1 and the last block (6)
    rows[43] = dict(rows[2], id="r43", output=rows[2]["output"].replace(".", " !"))  # near duplicate
    rows[42] = dict(rows[0], id="r42", output="Je ne sais vraiment pas quoi répondre à cela.")  # conflict
    rows[20] = dict(rows[5], id="r20")  # a duplicate in the middle too
    return rows


@pytest.fixture
def data(write_jsonl):
    return write_jsonl(_rows())


def _without_seconds(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds"}


def test_audit_on_ray_writes_what_the_local_engine_writes(data, tmp_path):
    here = finesift.audit(data, out=tmp_path / "local", batch_size=BATCH)
    with ray_engine.use():
        there = finesift.audit(data, out=tmp_path / "ray", batch_size=BATCH)
    a, b = pq.read_table(tmp_path / "local" / "audit.parquet"), pq.read_table(tmp_path / "ray" / "audit.parquet")
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.equals(b)
    sa, sb = (orjson.loads((tmp_path / d / "summary.json").read_bytes()) for d in ("local", "ray"))
    assert _without_seconds(sa) == _without_seconds(sb)
    assert set(sb["seconds"]["checks"]) == set(sa["seconds"]["checks"])
    # dataset checks saw every block: duplicates between block 1 and block 6 were found
    flags, dup = b["flags"].to_pylist(), b["duplicate_of"].to_pylist()
    assert "exact_duplicate" in flags[41] and dup[41] == 1
    assert "near_duplicate" in flags[43] and dup[43] == 2
    assert "exact_duplicate" in flags[20] and dup[20] == 5
    assert "conflict" in flags[42] and dup[42] == 0 and "empty_output" in flags[3]
    assert there.summary["counts"] == here.summary["counts"]
    from finesift import engine

    assert engine.active() is local.run_checks  # the local engine is back after the block


def test_curate_on_ray_keeps_the_same_rows_in_the_same_order(data, tmp_path):
    opts = {"target": 20, "no_models": True, "batch_size": BATCH}
    here = finesift.curate(data, tmp_path / "local", **opts)
    with ray_engine.use():
        there = finesift.curate(data, tmp_path / "ray", **opts)
    assert there.kept_rows.tolist() == here.kept_rows.tolist()
    assert there.reasons == here.reasons
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert 41 in here.rejected_rows.tolist()  # the cross-block duplicate went


# --- the protocol on workers ----------------------------------------------------------------------

class _Copies(DatasetCheck):
    """Rows sharing this row's normalized answer across the dataset, and which process fitted/scored it."""

    name = "toy_copies"
    description = "toy"
    scores = {"toy_copies_n": Score("rows with the same normalized answer", 1, None),
              "toy_copies_pid": Score("process that scored the row")}
    needs = ("norm_output",)

    def fit(self, batch):
        return {"rows": batch["row"].to_numpy(), "key": batch["norm_output"].combine_chunks(),
                "pid": np.full(batch.num_rows, os.getpid())}

    def finalize(self, state):
        ids = np.asarray(state["key"].dictionary_encode().indices.to_numpy(zero_copy_only=False))
        return {"rows": state["rows"], "n": np.bincount(ids)[ids], "fit_pids": set(state["pid"].tolist())}

    def score(self, batch, state):
        return pa.table({"toy_copies_n": pa.array(state["n"][batch_positions(batch, state["rows"])]),
                         "toy_copies_pid": pa.array(np.full(batch.num_rows, os.getpid()))})

    def facts(self, state):
        return {"fit_pids": sorted(state["fit_pids"])}


class _Double(RowCheck):
    """Reads the dataset check's column: it runs after it, on the blocks that carry it."""

    name = "toy_double"
    description = "toy"
    scores = {"toy_double_n": Score("twice toy_copies_n"), "toy_double_pid": Score("process")}
    reads = ("toy_copies",)

    def score(self, batch):
        return pa.table({"toy_double_n": pa.array(2 * batch["toy_copies_n"].to_numpy()),
                         "toy_double_pid": pa.array(np.full(batch.num_rows, os.getpid()))})


def _toy_table():
    outs = ["Oui", "oui ", "Non", "OUI", "peut-être", "non", "Non"]
    return pa.table({"row": pa.array([0, 1, 2, 4, 5, 6, 9], pa.int64()), "prompt": ["q"] * len(outs),
                     "output": outs})


def test_row_and_dataset_checks_run_on_workers_with_states_merged_across_blocks():
    res = ray_engine.run_checks(_toy_table(), [_Double(), _Copies()], None, batch_size=2,
                                keep_features=("norm_output",))
    want = local.run_checks(_toy_table(), [_Double(), _Copies()], None, batch_size=2)
    assert res.scores["toy_copies_n"].to_pylist() == [3, 3, 3, 3, 1, 3, 3] == want.scores["toy_copies_n"].to_pylist()
    assert res.scores["toy_double_n"].to_pylist() == [6, 6, 6, 6, 2, 6, 6]
    assert res.scores.column_names == want.scores.column_names  # the configured order, not the run order
    assert res.features["norm_output"].to_pylist() == ["oui", "oui", "non", "oui", "peut-être", "non", "non"]
    driver = os.getpid()
    assert driver not in set(res.scores["toy_copies_pid"].to_pylist()) | set(res.scores["toy_double_pid"].to_pylist())
    assert driver not in res.facts["toy_copies"]["fit_pids"]
    assert set(res.seconds) == {"features", "toy_copies", "toy_double"}


class _Where(RowCheck):
    """How many GPUs Ray gave the task that scored each row; ``accelerated`` as the model checks say it."""

    name = "toy_where"
    description = "toy"
    scores = {"toy_where_gpus": Score("GPUs of the task")}
    model = False

    def accelerated(self, config=None):
        return self.model

    def score(self, batch):
        return pa.table({"toy_where_gpus": pa.array([len(ray.get_gpu_ids())] * batch.num_rows, pa.int64())})


class _WhereModel(_Where):
    name = "toy_where_model"
    scores = {"toy_where_model_gpus": Score("GPUs of the task")}
    model = True

    def score(self, batch):
        return _Where.score(self, batch).rename_columns(["toy_where_model_gpus"])


class _CopiesModel(_Copies):
    """A dataset check running a model: its fit and score tasks both report their GPUs."""

    name = "toy_copies_model"
    scores = {"toy_copies_model_gpus": Score("GPUs of the fit task + GPUs of the score task")}

    def accelerated(self, config=None):
        return True

    def fit(self, batch):
        return {**super().fit(batch), "gpus": np.full(batch.num_rows, len(ray.get_gpu_ids()))}

    def finalize(self, state):
        return {**super().finalize(state), "gpus": state["gpus"]}

    def score(self, batch, state):
        fit_gpus = state["gpus"][batch_positions(batch, state["rows"])]
        return pa.table({"toy_copies_model_gpus": pa.array(fit_gpus + len(ray.get_gpu_ids()))})


def test_model_stages_get_a_gpu_of_the_cluster_and_the_others_do_not():
    checks = [_Where(), _WhereModel(), _CopiesModel()]
    res = ray_engine.run_checks(_toy_table(), checks, None, batch_size=3)
    assert set(res.scores["toy_where_gpus"].to_pylist()) == {0}
    assert set(res.scores["toy_where_model_gpus"].to_pylist()) == {1}
    assert set(res.scores["toy_copies_model_gpus"].to_pylist()) == {2}  # fit on a GPU, score on a GPU
    with engine_scope("ray", gpus=0):  # --ray-gpus 0: CPUs only
        res = ray_engine.run_checks(_toy_table(), checks, None, batch_size=3)
    assert set(res.scores["toy_where_model_gpus"].to_pylist()) == set(res.scores["toy_copies_model_gpus"].to_pylist()) \
        == {0}


def test_lm_quality_asks_for_a_gpu_unless_told_to_run_on_cpu():
    from finesift.checks.lm_quality import LMQuality
    from finesift.config import AuditConfig

    assert LMQuality().accelerated(AuditConfig()) and not LMQuality().accelerated(AuditConfig(device="cpu"))
    assert not _Copies().accelerated(AuditConfig())  # the default: a check runs on CPUs


def test_the_features_stage_asks_for_a_gpu_only_for_sentence_embeddings():
    from finesift.checks.features import accelerated
    from finesift.config import AuditConfig

    wanted = ["norm_output", "embedding_output"]
    assert accelerated(wanted, AuditConfig(embeddings="sentence"))
    assert not accelerated(wanted, AuditConfig(embeddings="sentence", device="cpu"))
    assert not accelerated(wanted, AuditConfig())  # static embeddings are numpy lookups
    assert not accelerated(["norm_output", "answer_hash"], AuditConfig(embeddings="sentence"))


@pytest.mark.parametrize("gpus, message", [
    (2, "--ray-gpus 2: more GPUs per task than the Ray cluster has (1)"),
    (-1, "--ray-gpus -1: expected GPUs per model task, a number >= 0"),
    (float("nan"), "--ray-gpus nan: expected GPUs per model task"),
])
def test_bad_ray_gpus_is_one_clear_error(gpus, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with engine_scope("ray", gpus=gpus):
            ray_engine.run_checks(_toy_table(), [_WhereModel()], None)


def test_ray_gpus_on_a_cluster_without_gpus_is_refused_and_auto_asks_for_none(monkeypatch):
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert ray_engine.gpus_per_task(ray) == 0.0  # auto: model stages run on CPUs
    with ray_engine.use(gpus=1), pytest.raises(ConfigError, match="the Ray cluster has no GPUs"):
        ray_engine.gpus_per_task(ray)


class _Refuses(RowCheck):
    name = "toy_refuses"
    description = "toy"
    scores = {"toy_refuses_x": Score("never")}

    def score(self, batch):
        raise ConfigError("toy_refuses: this input cannot be scored")


class _RefusesFit(_Copies):
    name = "toy_refuses_fit"

    def fit(self, batch):
        # InputError has its own __init__: it cannot be rebuilt from its message alone
        raise InputError("data.jsonl", "this input cannot be fitted", line=3)


@pytest.mark.parametrize("check, error, message", [
    (_Refuses(), ConfigError, "toy_refuses: this input cannot be scored"),
    (_RefusesFit(), InputError, "data.jsonl:3: this input cannot be fitted"),
])
def test_a_finesift_error_in_a_worker_comes_back_as_itself(check, error, message):
    with pytest.raises(error) as info:
        ray_engine.run_checks(_toy_table(), [check], None, batch_size=3)
    assert type(info.value) is error and str(info.value) == message


def test_an_empty_table_gives_empty_scores():
    empty = _toy_table().slice(0, 0)
    res = ray_engine.run_checks(empty, [_Copies()], None)
    assert res.scores.num_rows == 0 and "toy_copies_n" in res.scores.column_names


# --- options --------------------------------------------------------------------------------------

def _main(argv, capsys):
    from finesift.cli import main

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_cli_engine_ray_prints_the_same_json_summary(data, tmp_path, capsys):
    args = ["audit", data, "--json", "--checks", "exact_duplicate,empty_output", "--batch-size", BATCH]
    code, out_local, _ = _main([*args, "-o", tmp_path / "a"], capsys)
    assert code in (0, None)
    code, out_ray, err = _main([*args, "-o", tmp_path / "b", "--engine", "ray"], capsys)
    assert code in (0, None), err
    here, there = orjson.loads(out_local), orjson.loads(out_ray)  # stdout holds the JSON and nothing else
    assert there["counts"] == here["counts"] == {"exact_duplicate": 2, "empty_output": 1}


@pytest.mark.parametrize("args, message", [
    (["--engine", "spark"], "--engine 'spark': unknown engine; choose from local, ray"),
    (["--ray-address", "10.0.0.5:6379"], "--ray-address needs --engine ray"),
    (["--ray-gpus", "1"], "--ray-gpus needs --engine ray"),
    (["--engine", "ray", "--ray-gpus", "-0.5"], "--ray-gpus -0.5: expected GPUs per model task"),
    (["--engine", "ray", "--ray-address", "nohost"], "expected HOST:PORT of a Ray cluster's head"),
    (["--engine", "ray", "--ray-address", "127.0.0.1:1"], "no Ray cluster reachable there"),
])
@pytest.mark.parametrize("command", ["audit", "curate"])
def test_bad_engine_options_are_one_clear_line(data, tmp_path, capsys, command, args, message):
    code, _, err = _main([command, data, "-o", tmp_path / "o", *args], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # refused before any work


def test_ray_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'finesift\[ray\]'"), engine_scope("ray"):
        pass
