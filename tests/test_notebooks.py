"""The notebooks run top to bottom from the repository root and are stored clean."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [p.name for p in NOTEBOOKS]


def test_the_notebooks_exist():
    assert NAMES == ["01_quickstart.ipynb", "02_integrity_investigation.ipynb",
                     "03_actor_resource_history.ipynb", "04_anomaly_review.ipynb",
                     "05_periodic_review.ipynb", "06_monthly_review.ipynb",
                     "07_incident_investigation.ipynb", "08_archive_spot_check.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    assert book.metadata.kernelspec.name == "python3"


def _execute(path: Path, out: Path, parameters: dict | None = None):
    import papermill

    papermill.execute_notebook(str(path), str(out), parameters=parameters or {},
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False,
                               log_output=False)
    return nbformat.read(out, as_version=4)


def _text(book) -> str:
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def _outputs(book, mime):
    return [o for c in book.cells for o in c.get("outputs", []) if mime in o.get("data", {})]


@pytest.mark.notebooks
@pytest.mark.parametrize("name,expect", [
    ("01_quickstart.ipynb", ["INTACT: 2,000 rows", "python-seed", "not_success"]),
    ("02_integrity_investigation.ipynb", ["TAMPERING EVIDENT", "hash_mismatch", "fork",
                                          "truncated", "missing_predecessor", "starts_with"]),
    ("03_actor_resource_history.ipynb", ["events", "patient_record"]),
    ("04_anomaly_review.ipynb", ["failed_access_burst", "off_hours_access", "window_start"]),
])
def test_notebook_runs(tmp_path, name, expect):
    book = _execute(ROOT / "notebooks" / name, tmp_path / name)
    text = _text(book)
    for needle in expect:
        assert needle in text, (name, needle)
    assert not [o for c in book.cells for o in c.get("outputs", [])
                if o.get("output_type") == "error"]
    if name == "04_anomaly_review.ipynb":
        assert len(_outputs(book, "image/png")) == 2


def _normalise(value):
    """Drop what legitimately differs between two runs: times and durations.

    ``off_hours_access`` aggregates ``local_hours`` with an unordered string_agg, so the
    hours are compared as a set.
    """
    if isinstance(value, dict):
        return {k: (sorted(v.split(",")) if k == "local_hours" and isinstance(v, str)
                    else _normalise(v)) for k, v in value.items()
                if k not in ("generated_at",) and "seconds" not in k}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


@pytest.mark.notebooks
def test_periodic_review_notebook_equals_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_ANALYTICS_ACTOR", "reviewer-1")
    nb_out, cli_out = tmp_path / "nb", tmp_path / "cli"
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(tmp_path / "home-nb"))
    book = _execute(ROOT / "notebooks" / "05_periodic_review.ipynb", tmp_path / "05.ipynb",
                    {"source": "data_samples/python_seed/clean.parquet", "period": "2024-01",
                     "policy": "hipaa", "out_dir": str(nb_out)})
    assert len(_outputs(book, "text/html")) >= 4  # the report summary and its charts
    exe = Path(sys.executable).parent / "audit-analytics"
    env = {**os.environ, "AUDIT_ANALYTICS_HOME": str(tmp_path / "home-cli")}
    done = subprocess.run([str(exe), "report", "data_samples/python_seed/clean.parquet",
                           "--period", "2024-01", "--policy", "hipaa", "--out", str(cli_out)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr
    from_nb = json.loads((nb_out / "audit-report_2024-01.json").read_text())
    from_cli = json.loads((cli_out / "audit-report_2024-01.json").read_text())
    assert _normalise(from_nb) == _normalise(from_cli)
    assert from_nb["report"]["generated_by"] == "reviewer-1"
    # both runs were recorded in their ledgers
    for home in ("home-nb", "home-cli"):
        lines = (tmp_path / home / "ledger.jsonl").read_text().splitlines()
        assert len(lines) == 1


HOSTILE_ACTOR = "$\\x$\x1b[31m\u202eevil\nline"


@pytest.fixture(scope="module")
def hostile_source(tmp_path_factory) -> Path:
    from collections import Counter

    import pyarrow.parquet as pq
    from hostile import CLEAN, hostile_log, replace_actor

    # the actor with most failed or denied events: shown by 03, plotted by 04
    rows = pq.read_table(CLEAN, columns=["actor_id", "result"]).to_pylist()
    counts = Counter(r["actor_id"] for r in rows
                     if r["result"] in ("failure", "denied") and r["actor_id"])
    top = min(counts, key=lambda actor: (-counts[actor], actor))
    return hostile_log(tmp_path_factory.mktemp("hostile") / "log.parquet",
                       replace_actor(top, HOSTILE_ACTOR))


@pytest.mark.notebooks
@pytest.mark.parametrize("name", ["03_actor_resource_history.ipynb",
                                  "04_anomaly_review.ipynb"])
def test_notebooks_show_hostile_values_as_written(tmp_path, hostile_source, name):
    book = _execute(ROOT / "notebooks" / name, tmp_path / name,
                    {"source": str(hostile_source)})
    assert not [o for c in book.cells for o in c.get("outputs", [])
                if o.get("output_type") == "error"]
    shown_text = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for part in (output.get("text", ""), data.get("text/html", "")):
                shown_text.append(part if isinstance(part, str) else "".join(part))
    text = "\n".join(shown_text)
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\nline" not in text
    if name == "03_actor_resource_history.ipynb":  # printed and in the tables, escaped
        assert text.count("$\\x$\\x1b[31m\\u202eevil\\nline") >= 2
    else:  # plotted as a bar label: mathtext would fail to parse "$\x$"
        assert len(_outputs(book, "image/png")) == 2


def _printed(book) -> str:
    """What the notebook's cells printed (stdout), in order."""
    return "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                   for c in book.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def _no_errors(book):
    assert not [o for c in book.cells for o in c.get("outputs", [])
                if o.get("output_type") == "error"]


@pytest.mark.notebooks
def test_monthly_review_walks_through_scope_integrity_controls_evidence_signoff(
        tmp_path, monkeypatch):
    import hashlib

    home = tmp_path / "home"
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(home))
    monkeypatch.setenv("AUDIT_ANALYTICS_ACTOR", "reviewer-2")
    out = tmp_path / "review"
    book = _execute(ROOT / "notebooks" / "06_monthly_review.ipynb", tmp_path / "06.ipynb",
                    {"out_dir": str(out)})
    _no_errors(book)
    printed = _printed(book)
    summary = json.loads((out / "audit-report_2024-03.json").read_text())
    # scope and integrity, as the written report has them
    assert f"events   {summary['scope']['rows_in_period']:,} in the period" in printed
    assert "2024-03-01 00:00:00 EST to 2024-04-01 00:00:00 EDT" in printed
    assert (f"Integrity: intact ({summary['integrity']['rows']:,} rows, profile python-seed, "
            "0 findings)") in printed
    # the failing controls listed are exactly those the report's matrix fails
    listed = printed.split("FAILING CONTROLS:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    failing = [c["id"] for c in summary["controls"]["controls"] if c["status"] == "fail"]
    assert len(listed) == len(failing) > 0
    for line, control in zip(listed, failing):
        assert line.startswith(f"  {control} "), (line, control)
    # each failing check's evidence, then one timeline per anomaly (inline SVG)
    for check in {k["name"] for c in summary["controls"]["controls"] if c["status"] == "fail"
                  for k in c["checks"] if k["status"] == "fail"}:
        assert f"\n{check} (fail): " in printed
    timelines = [o for o in _outputs(book, "text/html")
                 if "".join(o["data"]["text/html"]).startswith("<svg")]
    assert len(timelines) == sum("timeline" in a for a in summary["anomalies"]) > 0
    spike = next(a for a in summary["anomalies"] if a["check"] == "volume_spike")
    assert f"flagged day: {spike['value']} events; the check counted {spike['value']}" in printed
    assert len(_outputs(book, "image/png")) == 2  # controls by status, the spike's timeline
    # an interactive table, its script inline: nothing loaded from the network
    html = ["".join(o["data"]["text/html"]) for o in _outputs(book, "text/html")]
    assert any('id="itables_' in h for h in html)
    assert not any(re.search(r"""(src=|import\s|from\s*)["']?https?://""", h) for h in html)
    # sign-off: the four files written and recorded in the ledger with their digests
    from audit_analytics.trail.ledger import Ledger

    entry = Ledger(home).entries().iloc[-1]
    for fmt in ("html", "json", "csv", "pdf"):
        path = out / f"audit-report_2024-03.{fmt}"
        assert entry["files"][fmt]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"sha256 {entry['files'][fmt]['sha256']}" in printed
    assert summary["report"]["generated_by"] == "reviewer-2"


@pytest.mark.notebooks
def test_incident_investigation_follows_one_actor_across_two_sources(tmp_path, monkeypatch,
                                                                     activity_month):
    import pyarrow.parquet as pq

    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(tmp_path / "home"))
    book = _execute(ROOT / "notebooks" / "07_incident_investigation.ipynb",
                    tmp_path / "07.ipynb", {"folder": str(tmp_path / "work")})
    _no_errors(book)
    printed = _printed(book)
    assert printed.count(": INTACT: ") == 2  # each trail verified before it is read
    # the actor the month's log_access check flags, counted straight from the month
    month = pq.read_table(activity_month["month"]).to_pylist()
    labels = activity_month["month_labels"]
    actor = next(lb["actor_id"] for lb in labels if lb["check"] == "log_access")
    assert f"INCIDENT: {actor} read the audit log 2 time(s)" in printed
    mine = [r for r in month if r["actor_id"] == actor]
    clinical = sum(r["resource_type"] == "patient_record" for r in mine)
    assert f"clinical (Parquet)         {clinical:>6,} events" in printed
    assert f"administration (DuckDB)    {len(mine) - clinical:>6,} events" in printed
    assert f"both                       {len(mine):>6,} events" in printed
    assert "view_audit_log  audit_log" in printed
    assert len(_outputs(book, "image/png")) == 1
    assert any('id="itables_' in "".join(o["data"]["text/html"])
               for o in _outputs(book, "text/html"))


@pytest.mark.notebooks
def test_archive_spot_check_finds_what_the_cli_finds_on_the_same_archive(tmp_path, cli):
    import hashlib

    work = tmp_path / "work"
    book = _execute(ROOT / "notebooks" / "08_archive_spot_check.ipynb", tmp_path / "08.ipynb",
                    {"folder": str(work), "sample": 5, "seed": 42})
    _no_errors(book)
    printed = _printed(book)
    archive, public = work / "archive", work / "keys" / "audit.pub"
    lines = (archive / "manifest.jsonl").read_bytes().splitlines()
    entries = {e["path"]: e for e in map(json.loads, lines)}
    head = hashlib.sha256(lines[-1]).hexdigest()
    # the archive written, its head kept, the manifest re-checked without the toolkit
    assert "re-run: 0 part file(s) written, 0 rows" in printed
    assert f"manifest head (kept elsewhere): {head}" in printed
    assert (work / "kept-head.txt").read_text() == head + "\n"
    assert (f"independent check: {len(lines)} signatures valid, chain intact, head {head}"
            in printed)

    def spot_check(folder, *options):
        out = tmp_path / f"{folder.name}-{len(list(tmp_path.glob('*.json')))}.json"
        done = cli("spot-check", folder, "--public-key", public, *options, "--json", out)
        assert done.returncode in (0, 1), done.stderr
        # the notebook printed the CLI's own summary of the same check, word for word
        assert done.stdout.strip() in printed, done.stdout
        return done.returncode, json.loads(out.read_text())

    # the seeded spot check: the same files, the same probability and sample sizes
    code, spot = spot_check(archive, "--sample", "5", "--seed", "42", "--expect-head", head)
    assert code == 0 and spot["ok"]
    n, k = spot["partitions"], len(spot["sampled"])
    assert (n, k) == (len(lines), 5)
    assert "sampled: " + ", ".join(spot["sampled"]) + "\n" in printed
    assert f"detection probability: {k}/{n} = {spot['detection_probability']:.3f}" in printed
    assert (f"K for 95%: {spot['sample_for_95']}, K for 99%: {spot['sample_for_99']} "
            f"(of {n})") in printed
    assert "the same seed picks the same files: True" in printed
    assert len(_outputs(book, "image/png")) == 1  # detection probability against K
    # one partition altered in the scratch copy, one the sample does not read
    target = re.search(r"TAMPERED: (\S+): event ", printed).group(1)
    assert target in entries and target not in spot["sampled"]
    tampered = work / "scratch-tampered"
    digest = hashlib.sha256((tampered / target).read_bytes()).hexdigest()
    assert digest != entries[target]["sha256"]
    assert hashlib.sha256((archive / target).read_bytes()).hexdigest() == entries[target][
        "sha256"]  # the archive itself untouched
    code, missed = spot_check(tampered, "--sample", "5", "--seed", "42", "--expect-head", head)
    assert code == 0 and missed["sampled"] == spot["sampled"]
    code, full = spot_check(tampered, "--all", "--expect-head", head)
    assert code == 1
    assert [(f["kind"], f["path"]) for f in full["findings"]] == [
        ("file_digest_mismatch", target), ("hash_mismatch", target)]
    assert full["findings"][0]["sha256"] == digest
    verified = cli("verify", tampered, "--public-key", public, "--json", "-")
    assert verified.returncode == 1, verified.stderr
    assert [(f["kind"], f["path"]) for f in json.loads(verified.stdout)["findings"]] == [
        (f["kind"], f["path"]) for f in full["findings"]]
    # the findings as an interactive table (its script inline: nothing from the network)
    html = ["".join(o["data"]["text/html"]) for o in _outputs(book, "text/html")]
    assert any('id="itables_' in h and "file_digest_mismatch" in h and target in h
               for h in html)
    assert not any(re.search(r"""(src=|import\s|from\s*)["']?https?://""", h) for h in html)
    # the truncated copy: intact on its own, truncated against the kept head
    truncated = work / "scratch-truncated"
    code, alone = spot_check(truncated, "--all")
    assert code == 0 and alone["partitions"] == len(lines) - 2
    code, cut = spot_check(truncated, "--all", "--expect-head", head)
    assert code == 1 and [f["kind"] for f in cut["findings"]] == ["truncated"]
    lost = sum(json.loads(line)["rows"] for line in lines[-2:])
    compared = cli("reconcile", work / "month.parquet", truncated, "--json", "-")
    assert compared.returncode == 1, compared.stderr
    assert json.loads(compared.stdout)["counts"]["missing_in_b"] == lost
    assert f"missing in the archive: {lost:,} events" in printed
