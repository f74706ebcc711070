"""analysis.export_weights: the naming (renames, num_batches_tracked dropped,
F32), the pure-numpy writer against the safetensors package and against the
committed fixtures that the C++ reader's tests read (tests/cpu/test_safetensors.cpp),
read_safetensors, a small PyTorch model (skipped without torch) and the CLI's
one-line errors.

The fixtures under tests/fixtures/weights/ are rewritten by
    BTC_REGENERATE_FIXTURES=1 python3 -m pytest tests/analysis/test_export_weights.py -k fixture
(by_safetensors.safetensors needs the safetensors package)."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from analysis import export_weights as ew

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "weights"
REGENERATE = os.environ.get("BTC_REGENERATE_FIXTURES") == "1"
METADATA = {"btcbench_model": "tiny", "format": "btcbench.weights.v1"}

# tiny.safetensors: a conv with its batch norm and an fc, under PyTorch names
# that the mapping renames; float64 in, so the export's conversion is exercised.
# The C++ test checks these same values.
TINY_STATE = {
    "features.0.weight": np.array([0.5, -1.0, 2.0, -0.25, 0.0, -0.0, 3.0, -3.0]).reshape(2, 1, 2, 2),
    "bn1.weight": np.array([1.0, -0.5]),
    "bn1.bias": np.array([0.25, 0.0]),
    "bn1.running_mean": np.array([0.5, -1.5]),
    "bn1.running_var": np.array([1.0, 4.0]),
    "bn1.num_batches_tracked": np.array(7, dtype=np.int64),
    "classifier.weight": np.array([[1.0, -1.0], [0.5, -0.5], [2.0, -2.0]], dtype=np.float32),
}
TINY_MAPPING = {"features.0": "conv1", "bn1": "conv1.bn", "classifier": "fc"}


def by_safetensors_tensors() -> dict[str, np.ndarray]:
    """by_safetensors.safetensors: one tensor of every dtype numpy has (no BF16),
    a scalar and an empty tensor, written by the safetensors package."""
    return {
        "w.f32": np.array([[0.5, -1, 2], [-0.25, 0, 3]], np.float32),
        "w.f16": np.array([1, -2, 65504, 2.0 ** -24], np.float16),
        "w.f64": np.array(0.1, np.float64),
        "i.i8": np.array([-128, -1, 0, 127], np.int8),
        "i.i16": np.array([-32768, 32767], np.int16),
        "i.i32": np.array([-7, 123456], np.int32),
        "i.i64": np.array([[-5]], np.int64),
        "u.u8": np.zeros((0, 3), np.uint8),
        "u.u16": np.array([0, 65535], np.uint16),
        "u.u32": np.array([4294967295], np.uint32),
        "u.u64": np.array([2 ** 53], np.uint64),
        "m.bool": np.array([True, False, True]),
    }


BY_SAFETENSORS_METADATA = {"made_by": "safetensors.numpy.save, safetensors 0.8.0"}
needs_package = pytest.mark.skipif(ew.st_numpy is None, reason="the safetensors package is not installed")


def header_of(data: bytes) -> dict:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n])


# ---------------------------------------------------------------- export from numpy

def test_export_numpy_dict_round_trip(tmp_path):
    out = tmp_path / "tiny.safetensors"
    shapes = ew.export_state_dict(TINY_STATE, TINY_MAPPING, out, "tiny")
    assert shapes == {"conv1.weight": (2, 1, 2, 2), "conv1.bn.weight": (2,), "conv1.bn.bias": (2,),
                      "conv1.bn.running_mean": (2,), "conv1.bn.running_var": (2,), "fc.weight": (3, 2)}
    tensors, metadata = ew.read_safetensors(out)
    assert metadata == METADATA
    assert set(tensors) == set(shapes)   # num_batches_tracked dropped
    for ours, theirs in [("conv1.weight", "features.0.weight"), ("conv1.bn.running_var", "bn1.running_var"),
                         ("fc.weight", "classifier.weight")]:
        assert tensors[ours].dtype == np.float32
        np.testing.assert_array_equal(tensors[ours], TINY_STATE[theirs])
    assert np.signbit(tensors["conv1.weight"].reshape(-1)[5])   # -0.0 kept: the runner binarizes it to +1
    assert all(e["dtype"] == "F32" for k, e in header_of(out.read_bytes()).items() if k != "__metadata__")


def test_no_mapping_keeps_the_names(tmp_path):
    state = {"conv1.weight": np.ones((1, 1, 1, 1)), "conv1.bn.num_batches_tracked": np.array(3)}
    assert ew.export_state_dict(state, None, tmp_path / "w.safetensors", "m") == {"conv1.weight": (1, 1, 1, 1)}


def test_rename_takes_the_longest_dotted_prefix():
    mapping = {"layer1": "a", "layer1.0": "b", "bn1": "conv1.bn"}
    assert ew.rename("layer1.0.weight", mapping) == ("b.weight", "layer1.0")
    assert ew.rename("layer1.1.weight", mapping) == ("a.1.weight", "layer1")
    assert ew.rename("layer10.weight", mapping) == ("layer10.weight", None)   # not a dotted prefix
    assert ew.rename("bn1.running_mean", mapping) == ("conv1.bn.running_mean", "bn1")
    assert ew.rename("bn1", mapping) == ("conv1.bn", "bn1")


def test_a_mapping_entry_that_matches_nothing_is_an_error(tmp_path):
    with pytest.raises(ew.WeightsError, match="match no key of the state dict: features.9"):
        ew.export_state_dict(TINY_STATE, {**TINY_MAPPING, "features.9": "conv9"}, tmp_path / "w.safetensors", "m")
    assert not (tmp_path / "w.safetensors").exists()


def test_two_keys_renamed_to_one_name_is_an_error(tmp_path):
    state = {"a.weight": np.ones(2), "b.weight": np.ones(2)}
    with pytest.raises(ew.WeightsError, match="'a.weight' and 'b.weight' are both renamed to 'c.weight'"):
        ew.export_state_dict(state, {"a": "c", "b": "c"}, tmp_path / "w.safetensors", "m")


@pytest.mark.parametrize("value", [np.array([1 + 2j]), np.array([True]), np.array(["x"]), np.array([{}], dtype=object)],
                         ids=["complex", "bool", "str", "object"])
def test_a_tensor_not_convertible_to_f32_is_an_error(tmp_path, value):
    with pytest.raises(ew.WeightsError, match="'conv1.weight': numpy dtype .* is not convertible to F32"):
        ew.export_state_dict({"conv1.weight": value}, None, tmp_path / "w.safetensors", "m")


def test_any_layout_and_byte_order_becomes_contiguous_little_endian_f32():
    fortran = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    big = np.arange(4, dtype=">i4")
    out = ew.prepare_state_dict({"a.weight": fortran, "b.weight": big, "c.weight": np.float16(1.5), "s": np.array(2)})
    for arr in out.values():
        assert arr.dtype == np.dtype("<f4") and arr.flags.c_contiguous
    np.testing.assert_array_equal(out["a.weight"], fortran)
    np.testing.assert_array_equal(out["b.weight"], [0, 1, 2, 3])
    assert out["s"].shape == ()   # a scalar stays 0-rank


def test_the_model_name_is_required(tmp_path):
    with pytest.raises(ew.WeightsError, match="model name"):
        ew.export_state_dict(TINY_STATE, TINY_MAPPING, tmp_path / "w.safetensors", "")


class FakeTorchTensor:
    """What export reads of a torch tensor (detach, cpu, dtype, float, numpy), so
    the torch path runs where torch is not installed."""

    def __init__(self, values: np.ndarray, dtype: str = "torch.bfloat16"):
        self.values, self.dtype = values, dtype

    def detach(self): return self
    def cpu(self): return self
    def is_complex(self): return self.dtype == "torch.complex64"
    def float(self): return FakeTorchTensor(self.values.astype(np.float32), "torch.float32")
    def numpy(self): return self.values


def test_torch_like_tensors_go_through_float(tmp_path):
    state = {"fc.weight": FakeTorchTensor(np.array([[1.5, -2.0]])), "fc.bn.running_var": FakeTorchTensor(np.ones(1))}
    ew.export_state_dict(state, None, tmp_path / "w.safetensors", "m")
    tensors, _ = ew.read_safetensors(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(tensors["fc.weight"], [[1.5, -2.0]])
    for dtype in ("torch.bool", "torch.complex64"):
        with pytest.raises(ew.WeightsError, match=f"{dtype} is not convertible to F32"):
            ew.prepare_state_dict({"x": FakeTorchTensor(np.ones(1), dtype)})


# ---------------------------------------------------------------- the writer's bytes

def test_the_header_is_compact_sorted_and_padded():
    data = ew.serialize_numpy({"b": np.ones(3, np.float16), "a": np.ones(1, np.float16), "w": np.ones(2, np.float64)},
                              {"z": "1", "a": "2"})
    (n,) = struct.unpack("<Q", data[:8])
    text = data[8:8 + n].decode()
    assert n % 8 == 0 and text == text.rstrip(" ") + " " * (n - len(text.rstrip(" ")))
    assert text.rstrip(" ") == ('{"__metadata__":{"a":"2","z":"1"},'
                                '"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},'
                                '"a":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},'
                                '"b":{"dtype":"F16","shape":[3],"data_offsets":[18,24]}}')
    assert len(data) == 8 + n + 24


@needs_package
def test_the_numpy_writer_writes_the_package_bytes():
    tensors = by_safetensors_tensors()
    tensors["name \"quoted\" é\n"] = np.zeros(2, np.float32)
    assert ew.serialize_numpy(tensors, BY_SAFETENSORS_METADATA) == ew.st_numpy.save(tensors, BY_SAFETENSORS_METADATA)
    assert ew.serialize_numpy(tensors) == ew.st_numpy.save(tensors)
    # With two metadata keys the package's order is its hash map's: equal but for that.
    theirs = ew.st_numpy.save(tensors, METADATA)
    ours = ew.serialize_numpy(tensors, METADATA)
    assert len(ours) == len(theirs) and header_of(ours) == header_of(theirs)
    loaded = ew.st_numpy.load(ours)
    for name, arr in tensors.items():
        np.testing.assert_array_equal(loaded[name], arr)


def test_write_is_atomic_and_replaces(tmp_path):
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"old")
    ew.write_safetensors(out, {"a": np.ones(2, np.float32)}, METADATA)
    assert ew.read_safetensors(out)[1] == METADATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]   # no temporary file left
    with pytest.raises(OSError):
        ew.write_safetensors(tmp_path / "missing" / "w.safetensors", {"a": np.ones(2, np.float32)})


# ---------------------------------------------------------------- read_safetensors

def good_file() -> bytes:
    return ew.serialize_numpy({"a": np.ones(2, np.float32), "b": np.ones(1, np.float32)}, {"k": "v"})


def with_header(header: str, data: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header.encode() + data


@pytest.mark.parametrize("data,fact", [
    (b"\x01\x00", "fewer than the 8"),
    (struct.pack("<Q", 9 * 10 ** 18) + b"{}", "header length 9000000000000000000 exceeds the file size 10"),
    (with_header(" {}", b""), "does not start with '{'"),
    (with_header('{"a":', b""), "invalid JSON header"),
    (with_header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],'
                 '"data_offsets":[4,8]}}', b"\0" * 8), "duplicate key in the header: ['a']"),
    (with_header('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', b"\0"), "unsupported dtype 'F8_E4M3'"),
    (with_header('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b"\0" * 4), "non-negative integers"),
    (with_header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4), "do not hold F32 [2]"),
    (with_header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8), "expected begin 0"),
    (with_header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 5), "the file has 5 data bytes"),
    (with_header('{"__metadata__":{"k":1}}', b""), "__metadata__ is not an object of strings"),
], ids=["short", "header-length", "no-brace", "json", "duplicate", "dtype", "negative", "size", "hole",
        "trailing", "metadata"])
def test_read_safetensors_refuses(tmp_path, data, fact):
    (tmp_path / "bad.safetensors").write_bytes(data)
    with pytest.raises(ew.WeightsError, match="bad.safetensors: .*" + fact.replace("[", r"\[").replace("]", r"\]")):
        ew.read_safetensors(tmp_path / "bad.safetensors")


def test_read_safetensors_accepts_trailing_spaces_and_no_tensors(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(with_header('{"__metadata__":{"k":"v"}}   \n', b""))
    assert ew.read_safetensors(tmp_path / "w.safetensors") == ({}, {"k": "v"})
    (tmp_path / "w.safetensors").write_bytes(good_file())
    assert set(ew.read_safetensors(tmp_path / "w.safetensors")[0]) == {"a", "b"}


# ---------------------------------------------------------------- the committed fixtures

def check_fixture(path: Path, data: bytes) -> None:
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.read_bytes() == data, f"{path} is not what the writer writes now (BTC_REGENERATE_FIXTURES=1 rewrites it)"


def test_tiny_fixture_is_what_the_numpy_writer_writes():
    # The C++ reader's test reads this file and writes the same bytes back
    # with its own writer: numpy writer, C++ reader and C++ writer agree.
    data = ew.serialize_numpy(ew.prepare_state_dict(TINY_STATE, TINY_MAPPING), METADATA)
    check_fixture(FIXTURES / "tiny.safetensors", data)
    assert len(data) < 1024
    tensors, metadata = ew.read_safetensors(FIXTURES / "tiny.safetensors")
    assert metadata == METADATA and tensors["fc.weight"].shape == (3, 2)


def test_by_safetensors_fixture_reads_back_and_is_what_the_numpy_writer_writes():
    path = FIXTURES / "by_safetensors.safetensors"
    if REGENERATE:
        if ew.st_numpy is None:
            pytest.skip("regenerating by_safetensors.safetensors needs the safetensors package")
        path.write_bytes(ew.st_numpy.save(by_safetensors_tensors(), BY_SAFETENSORS_METADATA))
    tensors, metadata = ew.read_safetensors(path)
    assert metadata == BY_SAFETENSORS_METADATA
    expected = by_safetensors_tensors()
    assert set(tensors) == set(expected)
    for name, arr in expected.items():
        assert tensors[name].dtype == arr.dtype and tensors[name].shape == arr.shape, name
        np.testing.assert_array_equal(tensors[name], arr)
    assert ew.serialize_numpy(expected, BY_SAFETENSORS_METADATA) == path.read_bytes()


# ---------------------------------------------------------------- PyTorch

def test_a_small_pytorch_model(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the torch export path is not run")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                                          nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
            self.fc = nn.Linear(8 * 4 * 4, 10, bias=False)

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        for bn in (net.features[1], net.features[3]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(-1, 1)
    mapping = {"features.0": "conv1", "features.1": "conv1.bn", "features.2": "conv2", "features.3": "conv2.bn"}
    out = tmp_path / "net.safetensors"
    shapes = ew.export_state_dict(net.state_dict(), mapping, out, "net")
    assert shapes["conv1.weight"] == (4, 3, 3, 3) and shapes["conv2.bn.running_var"] == (8,)
    assert shapes["fc.weight"] == (10, 128)
    assert not any("num_batches_tracked" in n for n in shapes)
    assert len(shapes) == 2 + 8 + 1
    tensors, metadata = ew.read_safetensors(out)
    assert metadata == {"btcbench_model": "net", "format": "btcbench.weights.v1"}
    state = net.state_dict()
    for ours, theirs in [("conv1.weight", "features.0.weight"), ("conv2.bn.running_mean", "features.3.running_mean"),
                         ("fc.weight", "fc.weight")]:
        np.testing.assert_array_equal(tensors[ours], state[theirs].numpy())
    # bfloat16 has no numpy dtype: converted through float()
    half = ew.prepare_state_dict({"x": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)})
    np.testing.assert_array_equal(half["x"], [1.5, -2.0])


# ---------------------------------------------------------------- the command line

MODELS_PY = '''
import numpy as np

class Model:
    def state_dict(self):
        return {"features.0.weight": np.ones((2, 1, 3, 3)), "bn1.weight": np.ones(2), "bn1.bias": np.zeros(2),
                "bn1.running_mean": np.zeros(2), "bn1.running_var": np.ones(2),
                "bn1.num_batches_tracked": np.array(1)}

def build():
    return Model()

def broken():
    raise ValueError("no such\\nmodel")

def not_a_model():
    return 42
'''


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "btc_fake_models.py").write_text(MODELS_PY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    return subprocess.run([sys.executable, "-m", "analysis.export_weights", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_exports_with_a_map(tmp_path):
    (tmp_path / "map.json").write_text(json.dumps({"features.0": "conv1", "bn1": "conv1.bn"}))
    out = tmp_path / "w.safetensors"
    p = run_cli(tmp_path, "--module", "btc_fake_models:build", "--model", "m", "--out", str(out),
                "--map", str(tmp_path / "map.json"))
    assert p.returncode == 0, p.stderr
    assert f"wrote {out}: 5 tensors of model 'm'" in p.stdout
    tensors, metadata = ew.read_safetensors(out)
    assert sorted(tensors) == ["conv1.bn.bias", "conv1.bn.running_mean", "conv1.bn.running_var", "conv1.bn.weight",
                               "conv1.weight"]
    assert metadata["btcbench_model"] == "m"


@pytest.mark.parametrize("args,text", [
    (["--map", "{tmp}/missing.json"], "cannot read the map {tmp}/missing.json"),
    (["--checkpoint", "{tmp}/missing.pt"], "cannot read the checkpoint {tmp}/missing.pt: no such file"),
    (["--module", "no_such_module_here:build"], "cannot import 'no_such_module_here': ModuleNotFoundError"),
    (["--module", "btc_fake_models:nope"], "'btc_fake_models' has no function 'nope'"),
    (["--module", "btc_fake_models:broken"], "btc_fake_models:broken() failed: ValueError: no such model"),
    (["--module", "btc_fake_models:not_a_model"], "returned a int, not a torch.nn.Module"),
    (["--out", "{tmp}/no/such/folder/w.safetensors"], "cannot write {tmp}/no/such/folder/w.safetensors"),
    (["--out", "{tmp}/plain/w.safetensors"], "cannot write {tmp}/plain/w.safetensors"),
    (["--out", "{tmp}"], "it is a folder"),
], ids=["map", "checkpoint", "import", "function", "raises", "not-a-module", "no-folder", "file-as-folder",
        "folder-as-file"])
def test_cli_errors_are_one_line(tmp_path, args, text):
    (tmp_path / "plain").write_text("x")
    base = {"--module": "btc_fake_models:build", "--model": "m", "--out": str(tmp_path / "w.safetensors")}
    extra = [a.format(tmp=tmp_path) for a in args]
    for flag, value in zip(extra[::2], extra[1::2]):
        base[flag] = value
    p = run_cli(tmp_path, *[x for kv in base.items() for x in kv])
    assert_one_line_error(p, 1, text.format(tmp=tmp_path))
    assert not (tmp_path / "w.safetensors").exists()
    assert (tmp_path / "plain").read_text() == "x"


def test_cli_bad_module_spec_is_a_usage_error(tmp_path):
    p = run_cli(tmp_path, "--module", "btc_fake_models", "--model", "m", "--out", str(tmp_path / "w.safetensors"))
    assert p.returncode == 2 and "is not PKG.MOD:FUNCTION" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.skipif(ew.torch is not None, reason="PyTorch is installed: a checkpoint loads")
def test_cli_checkpoint_without_torch_says_so(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"x")
    p = run_cli(tmp_path, "--module", "btc_fake_models:build", "--model", "m", "--out", str(tmp_path / "w.safetensors"),
                "--checkpoint", str(tmp_path / "c.pt"))
    assert_one_line_error(p, 1, "--checkpoint needs PyTorch")
