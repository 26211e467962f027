"""Which kernel runs, and that the pure-Python one gives the native one's results end to end."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import audit_analytics as aa
from audit_analytics.chain import _pykernel, kernel
from audit_analytics.chain.canonical import canonical_text
from audit_analytics.chain.profiles import HashProfile

ROOT = Path(__file__).resolve().parent.parent

# Runs ``audit-analytics verify`` (its console entry point) on every sample in one process
# and writes each run's exit code and JSON document. argv: mode, samples JSON, output path.
VERIFY_ALL = r"""
import json, sys
mode, samples, target = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if mode == "blocked":
    sys.modules["audit_analytics.chain._native"] = None  # the compiled kernel cannot be imported
import audit_analytics as aa
import audit_analytics.periods
from audit_analytics.cli import main
native = sys.modules.get("audit_analytics.chain._native")
out = {"kernel": aa.kernel_info(), "native_loaded": native is not None, "runs": {}}
for rel, anchor, doc_path in samples:
    try:
        main(["--no-progress", "verify", rel, "--anchor", anchor, "--json", doc_path])
    except SystemExit as exc:
        code = exc.code
    with open(doc_path) as f:
        doc = json.load(f)
    doc.pop("seconds")
    out["runs"][rel] = {"exit": code, "doc": doc}
with open(target, "w") as f:
    json.dump(out, f)
"""


def _verify_all(mode: str, expected: dict, tmp_path: Path) -> dict:
    samples = [[f"data_samples/{rel}", f"data_samples/{spec['anchor']}",
                str(tmp_path / f"{mode}-{k}.json")]
               for k, (rel, spec) in enumerate(expected.items())]
    target = tmp_path / f"{mode}.json"
    env = {k: v for k, v in os.environ.items() if k != kernel.KERNEL_ENV}
    if mode == "env":
        env[kernel.KERNEL_ENV] = "python"
    proc = subprocess.run([sys.executable, "-c", VERIFY_ALL, mode, json.dumps(samples),
                           str(target)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(target.read_text())


def test_python_kernel_verifies_every_sample_as_the_native_one(expected, tmp_path):
    native = _verify_all("native", expected, tmp_path)
    assert native["kernel"]["implementation"] == "native" and native["native_loaded"]
    for rel, spec in expected.items():
        run = native["runs"][f"data_samples/{rel}"]
        assert run["exit"] == (0 if spec["ok"] else 1), rel
        got = sorted((f["kind"], f["id"]) for f in run["doc"]["findings"])
        assert got == sorted((f["kind"], f["id"]) for f in spec["findings"]), rel
    for mode in ("blocked", "env"):
        python = _verify_all(mode, expected, tmp_path)
        assert python["kernel"]["implementation"] == "python", mode
        assert python["kernel"]["isa"] is None and python["kernel"]["threads"] == 1
        assert not python["native_loaded"], mode  # not even imported
        assert python["runs"] == native["runs"], mode


def test_kernel_info_names_the_running_kernel():
    info = aa.kernel_info()
    assert set(info) == {"implementation", "isa", "threads", "reason"}
    assert info["implementation"] == "native"  # the suite runs on a built extension
    assert info["isa"] in ("avx512", "avx2", "scalar")
    assert info["threads"] == kernel.THREADS and info["reason"] is None


@pytest.mark.parametrize("value,want", [("python", "python"), ("auto", "native"),
                                        ("native", "native"), ("", "native"),
                                        ("pyhton", "native")])
def test_kernel_env_var(value, want):
    code = ("import json, logging, sys\n"
            "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(message)s')\n"
            "import audit_analytics as aa\n"
            "print(json.dumps(aa.kernel_info()))\n"
            "print('audit_analytics.chain._native' in sys.modules)\n")
    env = {**os.environ, kernel.KERNEL_ENV: value}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    info = json.loads(lines[-2])
    assert info["implementation"] == want
    assert lines[-1] == str(want == "native")
    if want == "python":
        assert info["reason"] == "AUDIT_ANALYTICS_KERNEL=python"
    if value == "pyhton":  # a typo is said once, not silently ignored
        assert any(ln.startswith("WARNING AUDIT_ANALYTICS_KERNEL=pyhton is not one of")
                   for ln in lines)


def test_kernel_logged_once_at_debug(cli, samples):
    proc = cli("-vv", "--no-progress", "verify", samples / "python_seed" / "clean.parquet",
               env={kernel.KERNEL_ENV: "python"})
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "kernel: " in ln]
    assert len(lines) == 1 and "'implementation': 'python'" in lines[0], proc.stderr
    quiet = cli("--no-progress", "verify", samples / "python_seed" / "clean.parquet")
    assert "kernel: " not in quiet.stderr


@pytest.fixture(params=["native", "python"])
def running(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(kernel, "_impl", _pykernel)
    return request.param


@pytest.mark.parametrize("escape", ["ascii", "raw"])
def test_field_names_are_written_as_the_producer_escapes_them(running, escape):
    # json.dumps and JSON.stringify escape keys like values: a field named "naïve" is
    # written "na\u00efve" by an ASCII-escaping producer
    fields = ("id", "na\u00efve", 'quo"te', "prev_hash")
    profile = HashProfile(name="odd", fields=fields, key_order="insertion", escape=escape)
    row = {"id": "e1", "na\u00efve": "x", 'quo"te': "y", "prev_hash": "GENESIS"}
    cols = [pa.array([row[f]]) for f in fields]
    (text,) = kernel.canonical_texts(profile, cols)
    want = json.dumps(row, ensure_ascii=escape == "ascii").encode()
    assert text == want == canonical_text(profile, row)
    (digest,) = kernel.digests(profile, cols)
    assert digest.tobytes() == hashlib.sha256(want).digest()


def test_both_kernels_agree_on_percent_signs_and_nulls():
    # the Python kernel fills a %-template for rows without nulls: % in keys or separators
    # must come out as written
    from audit_analytics.chain import _native

    spec = ((b"a%s", b"%%b"), b"%d,", b"%:", 0, 0, 1)
    cols = [kernel._describe(pa.array(["x%s", None, "z"])),
            kernel._describe(pa.array([1, 2, None], pa.int64()))]
    want = [b'{"a%s"%:"x%s"%d,"%%b"%:1}', b'{"%%b"%:2}', b'{"a%s"%:"z"}']
    assert _native.canonical(spec, cols) == _pykernel.canonical(spec, cols) == want


def _repeats_reference(values, mask):
    from collections import Counter

    seen = Counter(v for v, m in zip(values, mask) if m)
    return [i for i, (v, m) in enumerate(zip(values, mask)) if m and seen[v] > 1]


@pytest.mark.parametrize("n", [50_000, 150_000])  # one table; partitions on two threads
@pytest.mark.parametrize("shape", ["random", "low-bits-equal", "zeros", "all-equal"])
def test_repeated_values_found_alike_by_both_kernels(running, shape, n):
    import numpy as np

    rng = np.random.default_rng(7)
    if shape == "random":
        values = rng.integers(0, 2**63, n, dtype=np.uint64)
        values[rng.integers(0, n, 500)] = values[rng.integers(0, n, 500)]  # some repeats
    elif shape == "low-bits-equal":  # values chosen to share every low bit
        values = rng.integers(0, 2**20, n, dtype=np.uint64) << np.uint64(44)
    elif shape == "zeros":
        values = np.zeros(n, dtype=np.uint64)
        values[::3] = np.arange(len(values[::3]), dtype=np.uint64)
    else:
        values = np.full(n, 2**64 - 1, dtype=np.uint64)
    mask = rng.random(n) < 0.9
    got = kernel.repeated(values, mask)
    assert got.dtype == np.int64
    assert got.tolist() == _repeats_reference(values.tolist(), mask.tolist())
    assert kernel.repeated(values).tolist() == _repeats_reference(values.tolist(), [True] * n)
    assert kernel.repeated(values[:1]).tolist() == []
    assert kernel.repeated(values[:0], mask[:0]).tolist() == []


@pytest.mark.parametrize("width", [32, 64])
def test_repeated_reads_the_first_8_bytes_of_each_digest_in_place(running, width):
    import numpy as np

    rng = np.random.default_rng(width)
    n = 100_000
    digests = rng.integers(0, 256, (n, width), dtype=np.uint8)
    digests[rng.integers(0, n, 300), :8] = digests[rng.integers(0, n, 300), :8]
    digests[5, 8:] ^= 1  # the rest of a digest does not take part
    mask = rng.random(n) < 0.95
    first8 = np.ascontiguousarray(digests[:, :8]).view(np.uint64).reshape(-1)
    want = _repeats_reference(first8.tolist(), mask.tolist())
    assert len(want) > 100
    assert kernel.repeated(digests, mask).tolist() == want


def test_repeated_refuses_a_mask_of_another_length(running):
    import numpy as np

    with pytest.raises(ValueError, match="mask holds 3 bytes for 4 values"):
        kernel._kernel().repeated(np.zeros(4, np.uint64), np.zeros(3, np.uint8))


@pytest.mark.parametrize("size", [32, 64])
def test_compare_decodes_and_links_alike_in_both_kernels(running, size):
    # digests of 32 bytes (SHA-256) and 64 (a longer digest): the pass takes the size
    import numpy as np

    rng = np.random.default_rng(size)
    n = 40_000  # above the native kernel's threshold for a second thread
    digests = rng.integers(0, 256, (n, size), dtype=np.uint8)
    hexes = [d.tobytes().hex() for d in digests]
    prevs = ["GENESIS", *hexes[:-1]]
    computed = digests.copy()
    computed[5, 0] ^= 1  # a row that does not reproduce its stored digest
    hexes[7] = hexes[7].upper()  # not lowercase: malformed
    hexes[9] = None  # null
    hexes[11] = hexes[11][:-1]  # too short
    prevs[13] = "0" * (2 * size)  # decodes, links to nothing
    prevs[15] = None
    prevs[17] = "GENESIS"
    stored, hf, prev, pf, ok, seq = kernel.compare(
        computed, pa.array(hexes, pa.string()), pa.array(prevs, pa.large_string()), "GENESIS")
    assert stored.shape == prev.shape == (n, size)
    bad = {7: 2, 9: 1, 11: 2}
    assert {i: int(hf[i]) for i in np.nonzero(hf)[0]} == bad
    assert {i: int(pf[i]) for i in np.nonzero(pf)[0]} == {0: 3, 15: 1, 17: 3}
    assert (stored[list(bad)] == 0).all()
    assert np.nonzero(~ok)[0].tolist() == [5, 7, 9, 11]
    assert (stored[ok] == digests[ok]).all()
    # a row links when its prev decodes and the row before stored a decodable digest
    unlinked = {0, 8, 10, 12, 13, 15, 17}
    assert np.nonzero(~seq)[0].tolist() == sorted(unlinked)


@pytest.mark.parametrize("simd", ["1", "0"])
def test_every_byte_in_every_place_of_a_stored_digest_decodes_as_the_reference(
        simd, monkeypatch):
    # the native decoder (32 characters at a time with AVX2, or one at a time) against the
    # pure-Python one: each of the 256 byte values at each of the 64 places of a SHA-256 hex
    import numpy as np

    from audit_analytics.chain import _native

    monkeypatch.setenv("AUDIT_ANALYTICS_NO_SIMD", "0" if simd == "1" else "1")
    base = bytes(range(32)).hex().encode()
    texts = [base[:k] + bytes([b]) + base[k + 1:] for k in range(64) for b in range(256)]
    texts += [base, base.upper(), b"0" * 64, b"f" * 64, b"GENESIS"]
    data = b"".join(texts)
    offsets = np.cumsum([0, *map(len, texts)]).astype(np.int32)
    column = pa.Array.from_buffers(pa.string(), len(texts),
                                   [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])
    computed = np.zeros((len(texts), 32), np.uint8)
    native = _native.compare(computed, kernel._describe(column), kernel._describe(column),
                             b"GENESIS", size=32, nthreads=2)
    reference = _pykernel.compare(computed, kernel._describe(column), kernel._describe(column),
                                  b"GENESIS", size=32, nthreads=1)
    assert native == reference
    flags = np.frombuffer(native[1], np.uint8)
    valid = [t for t, f in zip(texts, flags) if f == 0]
    assert len(valid) == 64 * 16 + 3  # the lowercase hex digits, and the three others
    assert all(bytes.fromhex(t.decode()) == d.tobytes() for t, d in zip(
        texts, np.frombuffer(native[0], np.uint8).reshape(-1, 32)) if t in valid)


def test_compare_refuses_mismatched_lengths(running):
    import numpy as np

    with pytest.raises(ValueError, match="do not match"):
        kernel.compare(np.zeros((2, 32), np.uint8), pa.array(["a"]), pa.array(["a", "b"]),
                       "GENESIS")
