"""Benign pickles written by real libraries: nothing at HIGH or above, and the policy knobs work."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import pickle
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import ArtifactRules, Policy


def scan_file(path: Path, policy: Policy | None = None) -> list[Finding]:
    return scan_path(str(path), root=str(path.parent), policy=policy).findings


def assert_clean(findings: list[Finding]) -> None:
    assert not findings, [(f.rule_id, f.key, f.severity.name, f.message) for f in findings]


class UserModel:
    """A user's own class, as pickled by a training script."""

    def __init__(self) -> None:
        self.coef = [0.5, 1.5]


STDLIB = [
    datetime.datetime(2024, 5, 1, 12, 30), datetime.date(2024, 5, 1), datetime.timedelta(days=3),
    datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC), decimal.Decimal("1.25"),
    fractions.Fraction(1, 3), uuid.UUID(int=7), collections.OrderedDict(a=1), collections.Counter("abca"),
    collections.defaultdict(list),
    collections.deque([1, 2]), {1, 2}, frozenset({3}), 1j, b"raw", bytearray(b"buf"), str.lower, dict.get,
    slice(1, 5), range(4),
]  # fmt: skip


@pytest.mark.parametrize("protocol", range(6))
def test_stdlib_objects(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps(STDLIB, protocol=protocol))
    assert_clean(scan_file(path))


@pytest.mark.parametrize("protocol", range(6))
def test_pandas_frames_and_series(tmp_path: Path, protocol: int) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "a": [1, 2],
            "b": ["x", "y"],
            "c": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "d": pd.Categorical(["u", "v"]),
        }
    )
    path = tmp_path / "frame.pkl"
    path.write_bytes(
        pickle.dumps([frame, pd.Series([1.0, 2.0], name="s"), pd.date_range("2020", periods=2)], protocol)
    )
    assert_clean(scan_file(path))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_numpy_arrays_including_object_dtype(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "arrays.pkl"
    arrays = [np.arange(6).reshape(2, 3), np.array([1, "a", None], dtype=object), np.float32(2.5),
              np.zeros(2, dtype=[("a", "f4"), ("b", "i8")]), np.random.default_rng(0)]  # fmt: skip
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    assert_clean(scan_file(path))


def _sklearn_models() -> dict[str, object]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    y = (x[:, 0] > 0.5).astype(int)
    return {
        "logreg": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y),
    }


def test_sklearn_models_via_joblib_uncompressed(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    for name, model in _sklearn_models().items():
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model, path, compress=0)
        assert_clean(scan_file(path))
        pickled = tmp_path / f"{name}.pkl"
        pickled.write_bytes(pickle.dumps(model, protocol=2))
        assert_clean(scan_file(pickled))


def test_joblib_numpy_arrays_raw_and_object(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "arrays.joblib"
    joblib.dump({"big": np.random.rand(300, 500), "obj": np.array([{"k": 1}, "s", None], dtype=object),
                 "fortran": np.asfortranarray(np.ones((3, 4), dtype=np.int16))},
                path, compress=0)  # fmt: skip
    assert_clean(scan_file(path))


def test_joblib_object_array_payload_is_analysed(tmp_path: Path, canary: Path) -> None:
    import os

    joblib = pytest.importorskip("joblib")

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    path = tmp_path / "bad.joblib"
    joblib.dump({"raw": np.ones(1000), "obj": np.array([Payload()], dtype=object)}, path, compress=0)
    findings = scan_file(path)
    assert any(f.rule_id == "MLS-PKL-001" and f.key == "posix.system" for f in findings)
    assert not any(f.rule_id in ("MLS-PKL-005", "MLS-PKL-007") for f in findings)


def test_torch_state_dict_zip_and_legacy(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(4, 4))
    state = {"model": model.state_dict(), "optim": torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
             "big": torch.randn(600, 600), "epoch": 3}  # fmt: skip
    torch.save(state, str(tmp_path / "new.pt"))
    with zipfile.ZipFile(tmp_path / "new.pt") as archive:
        member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        (tmp_path / "data.pkl").write_bytes(archive.read(member))
    assert_clean(scan_file(tmp_path / "data.pkl"))
    torch.save(state, str(tmp_path / "legacy.pt"), _use_new_zipfile_serialization=False)
    assert_clean(scan_file(tmp_path / "legacy.pt"))
    torch.save(model, str(tmp_path / "whole.pt"), _use_new_zipfile_serialization=False)
    assert_clean(scan_file(tmp_path / "whole.pt"))


@pytest.mark.parametrize("protocol", [2, 4])
def test_plain_pickled_tensors_nested_checkpoint_is_scanned(tmp_path: Path, protocol: int) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "tensor.pkl"
    # the large tensor's storage (> 1 MiB) is an operand the reader skips; it is re-read for the nested scan
    path.write_bytes(
        pickle.dumps({"small": torch.ones(3), "large": torch.randn(600, 600)}, protocol=protocol)
    )
    result = scan_path(str(path), root=str(tmp_path))
    assert_clean(result.findings)
    assert any(a.member and a.member[0].startswith("<nested pickle") for a in result.artifacts)


def test_custom_class_is_low_and_high_when_strict(tmp_path: Path) -> None:
    path = tmp_path / "user.pkl"
    path.write_bytes(pickle.dumps(UserModel(), protocol=4))
    qualified = f"{UserModel.__module__}.UserModel"
    (low,) = scan_file(path)
    assert (low.rule_id, low.severity, low.key) == ("MLS-PKL-003", Severity.LOW, qualified)
    assert "trusted_globals" in low.message
    strict = Policy(artifact_rules=ArtifactRules(strict_unknown_classes=True))
    (high,) = scan_file(path, strict)
    assert (high.rule_id, high.severity) == ("MLS-PKL-003", Severity.HIGH)
    trusting = Policy(artifact_rules=ArtifactRules(trusted_globals=frozenset({qualified})))
    assert_clean(scan_file(path, trusting))


@pytest.mark.parametrize("protocol", [0, 1])
def test_custom_class_protocol_0_1_reconstructor(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "user.pkl"
    path.write_bytes(pickle.dumps(UserModel(), protocol=protocol))
    (low,) = scan_file(path)
    assert (low.rule_id, low.severity) == ("MLS-PKL-003", Severity.LOW)


def test_trusted_global_allows_unknown_call(tmp_path: Path) -> None:
    path = tmp_path / "call.pkl"
    path.write_bytes(b"\x80\x02cmylib.layers\nmake_layer\nK\x03\x85R.")
    (high,) = scan_file(path)
    assert (high.rule_id, high.severity, high.key) == (
        "MLS-PKL-002",
        Severity.HIGH,
        "mylib.layers.make_layer",
    )
    policy = Policy(artifact_rules=ArtifactRules(trusted_globals=frozenset({"mylib.layers.*"})))
    assert_clean(scan_file(path, policy))


class UserArray(np.ndarray):
    """An ndarray subclass: numpy rebuilds it with ``_reconstruct`` and its ``__setstate__`` runs."""


def test_ndarray_subclass_is_an_unverified_class(tmp_path: Path) -> None:
    path = tmp_path / "sub.pkl"
    path.write_bytes(pickle.dumps(np.arange(3).view(UserArray), protocol=2))
    (low,) = scan_file(path)
    assert (low.rule_id, low.severity, low.key) == ("MLS-PKL-003", Severity.LOW, f"{__name__}.UserArray")


def test_joblib_raw_array_bytes_that_plain_pickle_would_run(tmp_path: Path, canary: Path) -> None:
    joblib = pytest.importorskip("joblib")
    payload = f"cos\nsystem\n(S'touch {canary}'\ntR.".encode()
    path = tmp_path / "shadow.joblib"
    joblib.dump({"w": np.frombuffer(payload, dtype=np.uint8)}, path, compress=0)
    findings = scan_file(path)
    hit = next(f for f in findings if f.rule_id == "MLS-PKL-001")
    assert hit.key == "os.system" and hit.location.offset == path.read_bytes().index(b"cos\nsystem")
