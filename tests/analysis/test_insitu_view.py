"""The in situ capture files and their view (docs/insitu.md): the C++ writer's
files, made by the fixture tool btc_insitu_fixture (tests/tools/insitu_fixture.cpp;
ctest's analysis_pytest passes it as BTC_INSITU_FIXTURE), against the tensors
it wrote beside them (expected.safetensors) as the vtk package reads them;
our numpy .vti reader against vtk's; the statistics in capture.json against
numpy; python3 -m analysis.insitu_view's figures, index.html, headless
Chromium screenshot, and its one-line errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from conftest import PNG_SIGNATURE, assert_one_line_error, run_module

from analysis import insitu_view as iv
from analysis import net_torch as nt

FIXTURE_ENV = "BTC_INSITU_FIXTURE"
LAYERS = ("conv1", "conv2")
STEPS = [(0, 0), (1, 2), (2, 4)]   # (step, batch index): every 2nd forward
IMAGES = (1, 3)


@pytest.fixture(scope="module")
def fixture_tool() -> Path:
    value = os.environ.get(FIXTURE_ENV)
    if not value:
        pytest.skip(f"{FIXTURE_ENV} is unset: ctest's analysis_pytest passes the built btc_insitu_fixture; by hand: "
                    f"{FIXTURE_ENV}=build/tests/btc_insitu_fixture python3 -m pytest tests/analysis")
    path = Path(value)
    assert path.is_file(), f"{FIXTURE_ENV}={value} is not a file: build the target btc_insitu_fixture"
    return path


@pytest.fixture(scope="module")
def made(fixture_tool, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """(the capture directory, the expected tensors), written once for the module: read only."""
    root = tmp_path_factory.mktemp("insitu")
    p = subprocess.run([str(fixture_tool), str(root / "cap")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    tensors, _ = nt.read_safetensors(root / "expected.safetensors")
    return root / "cap", tensors


@pytest.fixture(scope="module")
def capture_dir(made) -> Path:
    return made[0]


@pytest.fixture(scope="module")
def expected(made) -> dict[str, np.ndarray]:
    return made[1]


@pytest.fixture(scope="module")
def manifest(capture_dir) -> dict:
    return json.loads((capture_dir / "capture.json").read_text())


@pytest.fixture
def capture_copy(capture_dir, tmp_path) -> Path:
    """A private copy of the capture, to break."""
    return Path(shutil.copytree(capture_dir, tmp_path / "cap"))


@pytest.fixture(scope="module")
def vtk():
    return pytest.importorskip("vtk", reason="the vtk package is not installed (pip install -r analysis/requirements.txt)")


def vtk_read(vtk, path: Path):
    """(dims, {name: array}, active scalars name) of a .vti as vtk reads it."""
    from_vtk = pytest.importorskip("vtk.util.numpy_support").vtk_to_numpy
    errors = []
    reader = vtk.vtkXMLImageDataReader()
    reader.AddObserver("ErrorEvent", lambda obj, ev: errors.append(ev))
    reader.SetFileName(str(path))
    reader.Update()
    assert not errors, f"{path}: vtk reported {errors}"
    image = reader.GetOutput()
    pd = image.GetPointData()
    arrays = {pd.GetArrayName(i): from_vtk(pd.GetArray(i)) for i in range(pd.GetNumberOfArrays())}
    scalars = pd.GetScalars()
    return image.GetDimensions(), arrays, scalars.GetName() if scalars is not None else None


def step_files(manifest: dict):
    """(layer, tensor entry name, entry, step, relative file) for every step file."""
    for layer in manifest["layers"]:
        for tname, t in layer["tensors"].items():
            for step, rel in enumerate(t["files"]):
                yield layer["name"], tname, t, step, rel


def all_vti(manifest: dict) -> list[str]:
    files = [rel for *_, rel in step_files(manifest)]
    return files + [l["weights"]["file"] for l in manifest["layers"] if l["weights"]]


# ---------------------------------------------------------------- the files

def test_manifest_has_every_field(manifest, capture_dir):
    assert manifest["schema"] == "btcbench.insitu/1"
    assert manifest["model"] == "insitu-fixture"
    assert manifest["command"].startswith("btc_insitu_fixture ")
    assert (manifest["batch"], manifest["every"], manifest["images"]) == (4, 2, list(IMAGES))
    assert [(s["step"], s["batch"]) for s in manifest["steps"]] == STEPS
    assert [l["name"] for l in manifest["layers"]] == list(LAYERS)
    conv1, conv2 = manifest["layers"]
    assert list(conv1["tensors"]) == ["input", "pre", "output"]
    assert {k: (t["dtype"], t["shape"]) for k, t in conv1["tensors"].items()} == {
        "input": ("int8", [5, 7, 3]), "pre": ("int32", [5, 7, 10]), "output": ("int8", [5, 7, 10])}
    assert {k: (t["dtype"], t["shape"]) for k, t in conv2["tensors"].items()} == {
        "pre": ("int32", [6, 6, 12]), "output": ("float32", [3, 3, 12])}
    for layer in manifest["layers"]:
        for tname, t in layer["tensors"].items():
            assert t["pvd"] == f"{layer['name']}/{tname}.pvd"
            assert t["files"] == [f"{layer['name']}/{tname}_{s:06d}.vti" for s, _ in STEPS]
            assert t["bytes"] == [(capture_dir / f).stat().st_size for f in t["files"]]
    assert conv1["weights"] == {"file": "conv1/weights.vti", "dtype": "int8", "shape": [10, 9, 3],
                                "bytes": (capture_dir / "conv1/weights.vti").stat().st_size}
    assert conv2["weights"]["dtype"] == "float32" and conv2["weights"]["shape"] == [12, 9, 10]
    assert conv1["threshold"] == [k * 1.5 - 6.5 for k in range(10)]
    assert conv1["flip"] == [k % 3 == 2 for k in range(10)]
    assert conv2["threshold"] == [0] * 12
    assert set(manifest["stats"]) == set(LAYERS)
    for name in LAYERS:
        assert [(s["step"], s["batch"]) for s in manifest["stats"][name]] == STEPS
        for s in manifest["stats"][name]:
            assert set(s) == {"step", "batch", "frac_plus", "pre_mean", "pre_std", "margin_mean"}
    summary = manifest["summary"]
    assert {k: summary[k] for k in ("batches", "due", "captured", "dropped", "ring_slots", "ring_slot_bytes")} == {
        "batches": 5, "due": 3, "captured": 3, "dropped": 0, "ring_slots": 2, "ring_slot_bytes": 65536}
    on_disk = sum(p.stat().st_size for p in capture_dir.rglob("*") if p.is_file() and p.name != "capture.json"
                  and "view" not in p.relative_to(capture_dir).parts)
    assert summary["bytes_written"] == on_disk


def test_every_vti_read_by_vtk_equals_the_expected_tensors(vtk, capture_dir, manifest, expected):
    seen = set()
    for layer, tname, t, step, rel in step_files(manifest):
        h, w, c = t["shape"]
        dims, arrays, scalars = vtk_read(vtk, capture_dir / rel)
        assert dims == (w, h, c), rel
        assert list(arrays) == [f"img{b}" for b in IMAGES], rel
        assert scalars == f"img{IMAGES[0]}", rel
        for b in IMAGES:
            name = f"{layer}/{tname}/step{step}/img{b}"
            want = expected[name]
            assert want.shape == (h, w, c) and want.dtype == np.dtype(t["dtype"]), name
            got = arrays[f"img{b}"]
            assert got.dtype == want.dtype, name
            # VTK is x fastest: the NHWC block [h, w, c] as [c][h][w].
            np.testing.assert_array_equal(got, want.transpose(2, 0, 1).ravel(), err_msg=name)
            seen.add(name)
    for layer in manifest["layers"]:
        wt = layer["weights"]
        dims, arrays, scalars = vtk_read(vtk, capture_dir / wt["file"])
        k, rs, cin = wt["shape"]
        assert dims == (cin, rs, k) and scalars == "weights"
        want = expected[f"{layer['name']}/weights"]
        assert want.shape == (k, rs, cin)
        np.testing.assert_array_equal(arrays["weights"], want.ravel())   # KRSC as z, y, x: already x fastest
        seen.add(f"{layer['name']}/weights")
    assert seen == set(expected), "tensors in expected.safetensors that no .vti holds"


def test_expected_values_cover_every_kind(expected):
    # The fixture's promise: +-1 bits, ints, and negative fractional floats.
    bits = expected["conv1/output/step0/img1"]
    assert set(np.unique(bits)) == {-1, 1}
    assert expected["conv1/pre/step0/img1"].dtype == np.int32
    real = expected["conv2/output/step0/img1"]
    assert real.dtype == np.float32 and real.min() < 0 and np.any(real != np.round(real))


def test_pvd_lists_every_step_file_in_time_order(capture_dir, manifest):
    for layer in manifest["layers"]:
        for t in layer["tensors"].values():
            pvd = capture_dir / t["pvd"]
            root = ET.parse(pvd).getroot()
            assert (root.tag, root.get("type"), root.get("version")) == ("VTKFile", "Collection", "0.1")
            datasets = root.findall("./Collection/DataSet")
            files = [pvd.parent / d.get("file") for d in datasets]
            assert files == [capture_dir / f for f in t["files"]]
            assert all(f.is_file() for f in files)
            times = [float(d.get("timestep")) for d in datasets]
            assert times == [b for _, b in STEPS]
            assert all(a < b for a, b in zip(times, times[1:]))
            assert all(d.get("part") == "0" and d.get("group") == "" for d in datasets)


def test_numpy_reader_equals_vtk(vtk, capture_dir, manifest):
    for rel in all_vti(manifest):
        mine = iv.read_vti(capture_dir / rel)
        dims, arrays, scalars = vtk_read(vtk, capture_dir / rel)
        assert mine.dims == dims and mine.scalars == scalars, rel
        assert list(mine.arrays) == list(arrays), rel
        for name, a in arrays.items():
            assert mine.arrays[name].dtype == a.dtype, (rel, name)
            np.testing.assert_array_equal(mine.arrays[name], a, err_msg=f"{rel} {name}")


@pytest.mark.parametrize("header", ["UInt64", "UInt32"])
def test_numpy_reader_reads_what_vtk_writes(vtk, tmp_path, header):
    numpy_support = pytest.importorskip("vtk.util.numpy_support")
    image = vtk.vtkImageData()
    image.SetDimensions(7, 5, 3)
    rng = np.random.default_rng(7)
    values = {"a": rng.integers(-100, 100, 105).astype(np.int32), "b": rng.normal(size=105).astype(np.float32),
              "c": rng.choice([-1, 1], 105).astype(np.int8)}
    for name, v in values.items():
        arr = numpy_support.numpy_to_vtk(v, deep=True)
        arr.SetName(name)
        image.GetPointData().AddArray(arr)
    image.GetPointData().SetActiveScalars("b")
    writer = vtk.vtkXMLImageDataWriter()
    writer.SetFileName(str(tmp_path / "v.vti"))
    writer.SetInputData(image)
    writer.SetDataModeToBinary()
    writer.SetCompressorTypeToNone()
    getattr(writer, f"SetHeaderTypeTo{header}")()
    assert writer.Write() == 1
    got = iv.read_vti(tmp_path / "v.vti")
    assert got.dims == (7, 5, 3) and got.scalars == "b"
    for name, v in values.items():
        np.testing.assert_array_equal(got.arrays[name], v)
        assert got.arrays[name].dtype == v.dtype


def test_stats_match_numpy(manifest, expected):
    for layer in manifest["layers"]:
        name = layer["name"]
        thr = np.array(layer["threshold"])
        for s in manifest["stats"][name]:
            k = s["step"]
            stack = {t: np.stack([expected[f"{name}/{t}/step{k}/img{b}"] for b in IMAGES])
                     for t in ("pre", "output")}
            out, pre = stack["output"], stack["pre"].astype(np.float64)
            plus = out > 0 if out.dtype == np.int8 else out >= 0
            want = {"frac_plus": plus.mean(axis=(0, 1, 2)),
                    "pre_mean": pre.mean(axis=(0, 1, 2)),
                    "pre_std": pre.std(axis=(0, 1, 2)),          # population
                    "margin_mean": np.abs(pre - thr).mean(axis=(0, 1, 2))}
            for key, w in want.items():
                # capture.json holds 10 significant digits (harness/core/json.cpp's writer).
                np.testing.assert_allclose(s[key], w, rtol=1e-9, atol=1e-12, err_msg=f"{name} step {k} {key}")
    conv1 = manifest["stats"]["conv1"]
    assert all(s["frac_plus"][0] == 1.0 for s in conv1) and conv1[2]["frac_plus"][1] == 0.0   # saturated


def test_fixture_tool_takes_the_expected_path(fixture_tool, tmp_path):
    p = subprocess.run([str(fixture_tool), str(tmp_path / "c"), str(tmp_path / "e.safetensors")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "c" / "capture.json").is_file() and (tmp_path / "e.safetensors").is_file()
    again = subprocess.run([str(fixture_tool), str(tmp_path / "c")], capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "not empty" in again.stderr   # the writer never writes over a capture


# ---------------------------------------------------------------- the view

class Page:
    """index.html parsed: img ids and srcs, links, table rows, sections."""

    def __init__(self, text: str) -> None:
        page = self
        self.imgs: dict[str, str] = {}
        self.links: list[str] = []
        self.rows: list[str] = []
        self.sections: list[str] = []
        self.scripts_src: list[str] = []
        self.stylesheets: list[str] = []

        class P(HTMLParser):
            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "img":
                    page.imgs[a.get("id") or ""] = a["src"]
                elif tag == "a":
                    page.links.append(a["href"])
                elif tag == "tr" and a.get("id", "").startswith("row-"):
                    page.rows.append(a["id"][4:])
                elif tag == "section":
                    page.sections.append(a.get("id", ""))
                elif tag == "script" and "src" in a:
                    page.scripts_src.append(a["src"])
                elif tag == "link":
                    page.stylesheets.append(a.get("href", ""))

        P().feed(text)


def test_view_writes_every_figure_and_an_index(capture_copy, tmp_path):
    out = tmp_path / "view"
    p = run_module("analysis.insitu_view", str(capture_copy), "--out", str(out))
    assert p.returncode == 0, p.stderr
    page = Page((out / "index.html").read_text())
    assert page.rows == list(LAYERS)
    assert page.sections == [f"layer-{n}" for n in LAYERS]
    want_ids = {"fig-saturation"} | {f"fig-{n}-{kind}" for n in LAYERS for kind in ("stats", "montage")}
    assert set(page.imgs) == want_ids
    assert set(page.imgs) == set(iv.figure_ids(iv.render(iv.load_capture(capture_copy), tmp_path / "again",
                                                          LAYERS)[2]))
    # Self-contained: no script or stylesheet files, every link relative and present.
    assert not page.scripts_src and not page.stylesheets
    for ref in list(page.imgs.values()) + page.links:
        if ref.startswith("#"):
            continue
        assert "://" not in ref and not ref.startswith("/"), ref
        assert (out / ref).resolve().is_file(), ref
    for n in LAYERS:
        for s, _ in STEPS:
            png = out / n / f"output_{s:06d}.png"
            assert png.read_bytes().startswith(PNG_SIGNATURE)
        assert (out / n / "stats.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (out / "saturation.png").read_bytes().startswith(PNG_SIGNATURE)
    assert f"{out / 'index.html'}" in p.stdout
    assert 'href="../cap/conv1/output.pvd"' in (out / "index.html").read_text()
    # The saturation column: conv1's channel 0 always, and channel 1 at step 2.
    assert "0.10, 0.10, 0.20" in (out / "index.html").read_text()


def test_view_default_out_and_layers(capture_copy):
    p = run_module("analysis.insitu_view", str(capture_copy), "--layers", "conv2")
    assert p.returncode == 0, p.stderr
    page = Page((capture_copy / "view" / "index.html").read_text())
    assert page.rows == ["conv2"]
    assert set(page.imgs) == {"fig-saturation", "fig-conv2-stats", "fig-conv2-montage"}
    assert not (capture_copy / "view" / "conv1").exists()


def test_view_figures_are_reproducible(capture_copy, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    capture = iv.load_capture(capture_copy)
    iv.render(capture, a, ["conv1"])
    iv.render(capture, b, ["conv1"])
    for png in sorted(a.rglob("*.png")):
        assert png.read_bytes() == (b / png.relative_to(a)).read_bytes(), png


def test_view_shows_the_first_tensor_where_no_output_was_captured(capture_copy, tmp_path):
    m = json.loads((capture_copy / "capture.json").read_text())
    del m["layers"][0]["tensors"]["output"]
    (capture_copy / "capture.json").write_text(json.dumps(m))
    index, _, views = iv.render(iv.load_capture(capture_copy), tmp_path / "v", ["conv1"])
    assert views[0].tensor.name == "input"
    assert (tmp_path / "v" / "conv1" / "input_000002.png").is_file()


# ---------------------------------------------------------------- Chromium

def test_screenshot_with_headless_chromium(capture_copy, tmp_path):
    if iv.find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; scripts/setup.sh)")
    shot = tmp_path / "shot" / "index.png"
    p = run_module("analysis.insitu_view", str(capture_copy), "--screenshot", str(shot), timeout=300)
    assert p.returncode == 0, p.stderr
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    # Not blank: many colours, and dark pixels (text) on the white page.
    flat = (pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(flat, axis=0)) > 50
    assert (flat.sum(axis=1) < 200).mean() > 0.005
    assert not list(shot.parent.glob(".index.png.*"))   # no temporary file left


def test_screenshot_dom_check(capture_copy, tmp_path):
    if iv.find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; scripts/setup.sh)")
    index, _, views = iv.render(iv.load_capture(capture_copy), tmp_path / "v", LAYERS)
    iv.screenshot(index, tmp_path / "ok.png", iv.figure_ids(views))   # every figure is in Chromium's DOM
    with pytest.raises(iv.InsituError, match="lacks fig-nope-stats"):
        iv.screenshot(index, tmp_path / "bad.png", ["fig-conv1-stats", "fig-nope-stats"])


def test_screenshot_without_chromium(capture_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(iv, "find_chromium", lambda: None)
    assert iv.main([str(capture_copy), "--out", str(tmp_path / "v"), "--screenshot", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--screenshot needs Chromium" in err[0] and "apt-get install chromium" in err[0]
    assert not (tmp_path / "s.png").exists()


# ---------------------------------------------------------------- errors

def view(*args: str):
    return run_module("analysis.insitu_view", *args)


def test_error_missing_dir(tmp_path):
    assert_one_line_error(view(str(tmp_path / "nope")), 2, "no such directory")


def test_error_file_not_dir(tmp_path):
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(view(str(tmp_path / "plain")), 2, "is not a directory")


def test_error_not_a_capture(tmp_path):
    (tmp_path / "conv1").mkdir()
    assert_one_line_error(view(str(tmp_path)), 2, "not a capture directory (no capture.json")


def test_error_corrupt_json(capture_copy):
    text = (capture_copy / "capture.json").read_text()
    (capture_copy / "capture.json").write_text(text[:len(text) // 2])
    assert_one_line_error(view(str(capture_copy)), 2, "capture.json: not valid JSON")


def test_error_wrong_schema(capture_copy):
    m = json.loads((capture_copy / "capture.json").read_text())
    m["schema"] = "btcbench.insitu/0"
    (capture_copy / "capture.json").write_text(json.dumps(m))
    assert_one_line_error(view(str(capture_copy)), 2, "schema is 'btcbench.insitu/0', not 'btcbench.insitu/1'")


def test_error_missing_field(capture_copy):
    m = json.loads((capture_copy / "capture.json").read_text())
    del m["layers"][1]["tensors"]["pre"]["files"]
    (capture_copy / "capture.json").write_text(json.dumps(m))
    assert_one_line_error(view(str(capture_copy)), 2, "missing 'layers[1].tensors.pre.files'")


def test_error_truncated_vti(capture_copy):
    vti = capture_copy / "conv2" / "pre_000001.vti"
    data = vti.read_bytes()
    vti.write_bytes(data[:len(data) // 3])
    assert_one_line_error(view(str(capture_copy)), 2,
                          f"truncated capture: conv2/pre_000001.vti holds {len(data) // 3} of the {len(data)} bytes")


def test_error_missing_vti(capture_copy):
    (capture_copy / "conv1" / "output_000002.vti").unlink()
    assert_one_line_error(view(str(capture_copy)), 2, "truncated capture: conv1/output_000002.vti (listed in "
                                                      "capture.json) is missing")


def test_reader_refuses_a_cut_file(capture_dir, tmp_path):
    data = (capture_dir / "conv1" / "pre_000000.vti").read_text()
    start = data.index(">", data.index("<DataArray")) + 1
    start += len(data[start:]) - len(data[start:].lstrip())
    head = data[:start + 400]   # the first array's base64, cut after 300 of its bytes
    (tmp_path / "cut.vti").write_text(head + "\n</DataArray></PointData></Piece></ImageData></VTKFile>\n")
    with pytest.raises(iv.InsituError, match="truncated"):
        iv.read_vti(tmp_path / "cut.vti")
    (tmp_path / "half.vti").write_text(data[:len(data) // 2])
    with pytest.raises(iv.InsituError, match="not valid XML"):
        iv.read_vti(tmp_path / "half.vti")


def test_error_unknown_layer(capture_copy):
    assert_one_line_error(view(str(capture_copy), "--layers", "conv1,conv9"), 2,
                          "--layers: unknown layer 'conv9' (the capture has: conv1, conv2)")


def test_error_unwritable_out(capture_copy, tmp_path):
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(view(str(capture_copy), "--out", str(tmp_path / "plain")), 2,
                          f"cannot write under {tmp_path / 'plain'}")
    assert (tmp_path / "plain").read_text() == "x"
    assert_one_line_error(view(str(capture_copy), "--out", str(tmp_path / "plain" / "sub")), 2, "cannot write")
