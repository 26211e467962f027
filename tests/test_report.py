import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import audit_analytics as aa
from audit_analytics.checks import run_checks
from audit_analytics.errors import OutputError
from audit_analytics.report import build_report
from audit_analytics.trail.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
CLEAN = "data_samples/python_seed/clean.parquet"
TAMPERED = "data_samples/python_seed/tampered/all.parquet"
TAMPERED_ANCHORS = "data_samples/python_seed/tampered/anchors.jsonl"


class Page(HTMLParser):
    """Sections, figures, checklist rows and every URL-bearing attribute of a page."""

    def __init__(self):
        super().__init__()
        self.sections, self.svgs, self.urls, self.scripts = [], 0, [], 0
        self.rows, self._row, self._cell, self._in_checklist = [], None, None, False
        self.figures, self.text = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
            self._in_checklist = a.get("id") == "checklist"
        if tag == "svg":
            self.svgs += 1
        if tag == "figure":
            self.figures.append(a.get("id"))
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.scripts += 1
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "action") and v and not v.startswith("#"):
                self.urls.append(v)
        if tag == "tr" and "data-check" in a:
            self._row = {"name": a["data-check"], "status": a["data-status"]}

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)


def parse(path) -> Page:
    page = Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def clean_log():
    with aa.open(ROOT / CLEAN, journal=False) as log:
        yield log


def test_report_sections_charts_and_checklist(clean_log, tmp_path):
    report = build_report(clean_log, "2024-01")
    written = report.write(tmp_path)
    assert written.version == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit-report_2024-01.html", "audit-report_2024-01.json"]
    page = parse(written.paths["html"])
    assert page.sections == ["summary", "controls", "scope", "integrity", "checklist", "anomalies",
                             "charts", "retention", "access", "cadence", "signoff"]
    assert page.svgs >= 4
    assert {"chart-activity", "chart-heatmap", "chart-failures",
            "chart-resources"} <= set(page.figures)
    assert page.urls == [] and page.scripts == 0
    html = written.paths["html"].read_text()
    assert 'src="http' not in html and "http://" not in html and "https://" not in html
    assert "@media print" in html
    # checklist rows == JSON summary == the checklist's own results over the period
    summary = json.loads(written.paths["json"].read_text())
    direct = run_checks(clean_log, since=report.period.start, until=report.period.end)
    want = [{"name": c.name, "status": c.status} for c in direct.checks]
    assert page.rows == want
    assert [{"name": c["name"], "status": c["status"]} for c in summary["checklist"]] == want
    assert [c["controls"] for c in summary["checklist"]] == [c.controls for c in direct.checks]
    assert [c["findings"] for c in summary["checklist"]] == [len(c.findings) for c in direct.checks]
    assert summary["scope"]["rows_in_period"] == 2000
    assert summary["integrity"]["status"] == "intact"
    assert summary["report"]["status"] == direct.worst
    # anomalies carry evidence: the actor's own events inside the window
    # (on this six-day sample no actor has a baseline yet: the anomalies are log reads)
    anomaly = summary["anomalies"][0]
    assert {"actor_id", "window_start", "window_end", "value"} <= set(anomaly)
    assert all("baseline" in a for a in summary["anomalies"] if a["check"] != "log_access")
    assert anomaly["evidence"]
    assert all(anomaly["window_start"] <= e["timestamp"] <= anomaly["window_end"]
               for e in anomaly["evidence"])
    text = " ".join(page.text)
    assert "Reviewer sign-off" in text and "Signature" in text


def test_tampered_report_shows_findings_and_segments(tmp_path):
    with aa.open(ROOT / TAMPERED, journal=False) as log:
        report = build_report(log, "2024-01", anchors=ROOT / TAMPERED_ANCHORS)
        expected = log.verify(anchors=ROOT / TAMPERED_ANCHORS)
    written = report.write(tmp_path)
    summary = json.loads(written.paths["json"].read_text())
    assert summary["integrity"]["status"] == "tampering evident"
    assert summary["integrity"]["counts"] == {k: v for k, v in expected.counts.items() if v}
    assert summary["integrity"]["segments_total"] == len(expected.segment_records)
    chain = next(c for c in summary["checklist"] if c["name"] == "chain_integrity")
    assert chain["status"] == "fail"
    html = written.paths["html"].read_text()
    for kind in ("hash_mismatch", "missing_predecessor", "fork", "truncated"):
        assert kind in html


def test_user_controlled_values_are_escaped(tmp_path):
    import pyarrow.parquet as pq

    table = pq.read_table(ROOT / CLEAN)
    actors = table.column("actor_id").to_pylist()
    evil = "<script>alert(1)</script>"
    actors = [evil if a == "u-0020" else a for a in actors]
    bad = tmp_path / "evil.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("actor_id"), "actor_id",
                                    __import__("pyarrow").array(actors)), bad)
    with aa.open(bad, journal=False) as log:
        report = build_report(log, "2024-01")
    written = report.write(tmp_path / "out", formats=("html",))
    html = written.paths["html"].read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_empty_period_is_an_honest_report(clean_log, tmp_path):
    report = build_report(clean_log, "2023-06")
    assert report.empty
    written = report.write(tmp_path)
    page = parse(written.paths["html"])
    text = " ".join(page.text)
    assert "No events were recorded in this period" in text
    assert page.svgs == 0
    summary = json.loads(written.paths["json"].read_text())
    assert summary["report"]["empty"] is True and summary["scope"]["rows_in_period"] == 0
    assert summary["anomalies"] == [] and summary["charts"] == []


def test_versions_never_replace_silently(clean_log, tmp_path):
    report = build_report(clean_log, "2024-01")
    first = report.write(tmp_path)
    before = first.paths["html"].read_bytes()
    second = report.write(tmp_path)
    assert second.version == 2
    assert second.paths["html"].name == "audit-report_2024-01_v2.html"
    assert first.paths["html"].read_bytes() == before
    third = report.write(tmp_path, replace=True)
    assert third.version == 2 and third.replaced
    assert len(list(tmp_path.iterdir())) == 4
    entries = Ledger().entries()
    assert entries["version"].tolist() == [1, 2, 2]
    assert entries["replaced"].tolist() == [False, False, True]
    assert Ledger().verify().ok


def test_pdf_needs_the_extra(clean_log, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # an installation without it
    report = build_report(clean_log, "2024-01")
    with pytest.raises(OutputError, match=r"pip install audit_analytics\[pdf\]"):
        report.write(tmp_path, formats=("html", "pdf"))
    assert list(tmp_path.iterdir()) == []


# --- the command ---------------------------------------------------------------------------
def _cron_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TERM", "COLUMNS")}
    env["AUDIT_ANALYTICS_HOME"] = str(tmp_path / "home")
    return env


def _run(args, tmp_path):
    exe = Path(sys.executable).parent / "audit-analytics"
    return subprocess.run([str(exe), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, cwd=ROOT, env=_cron_env(tmp_path), timeout=300)


def test_cron_run_without_tty(tmp_path):
    out = tmp_path / "reports"
    done = _run(["report", CLEAN, "--period", "2024-01", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(out / "audit-report_2024-01.html"),
                                        str(out / "audit-report_2024-01.json")]
    assert done.stderr == ""  # no progress bar, no noise
    again = _run(["report", CLEAN, "--period", "2024-01", "--out", str(out)], tmp_path)
    assert again.returncode == 0
    assert again.stdout.splitlines()[0].endswith("audit-report_2024-01_v2.html")
    assert "version 2" in again.stderr and len(again.stderr.splitlines()) == 1
    journal = [json.loads(x) for x in (tmp_path / "home" / "journal.jsonl").read_text()
               .splitlines()]
    assert [e["action"] for e in journal] == ["open", "report", "open", "report"]
    assert {e["command"] for e in journal} == {"report"}
    ledger = _run(["ledger", "verify"], tmp_path)
    assert ledger.returncode == 0 and "INTACT: 2 rows" in ledger.stdout


def test_fail_on(tmp_path):
    out = tmp_path / "r"
    done = _run(["report", CLEAN, "--period", "2024-01", "--out", str(out), "--fail-on",
                 "fail"], tmp_path)
    status = json.loads((out / "audit-report_2024-01.json").read_text())["report"]["status"]
    assert status == "fail"  # the clean sample's checklist flags actor_type 'anonymous'
    assert done.returncode == 1
    done = _run(["report", CLEAN, "--period", "2023-06", "--out", str(out), "--fail-on",
                 "warn", "--format", "json"], tmp_path)
    assert done.returncode == 1  # an empty period warns: never a silent pass


@pytest.mark.parametrize("args,message", [
    (["--period", "2024-13"], "invalid period"),
    (["--period", "January"], "unknown period"),
    (["--period", "2024-01", "--policy", "nope.toml"], "not found"),
    (["--period", "2024-01", "--format", "docx"], "unknown report format"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    done = _run(["report", CLEAN, *args, "--out", str(out)], tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_unwritable_out_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker, blocker / "sub"):
        done = _run(["report", CLEAN, "--period", "2024-01", "--out", str(target)], tmp_path)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1 and "cannot write" in done.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked.chmod(0o500)
        done = _run(["report", CLEAN, "--period", "2024-01", "--out", str(locked)], tmp_path)
        assert done.returncode == 2
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []
    assert not (tmp_path / "home" / "ledger.jsonl").exists()


def test_failed_second_file_leaves_nothing(clean_log, tmp_path, monkeypatch):
    from audit_analytics.report import write as writer

    report = build_report(clean_log, "2024-01")
    real = writer.write_atomic

    def flaky(path, data, **kw):
        if str(path).endswith(".json"):
            raise OutputError(f"cannot write {path}: disk full")
        return real(path, data, **kw)

    monkeypatch.setattr(writer, "write_atomic", flaky)
    with pytest.raises(OutputError, match="disk full"):
        report.write(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert not Ledger().path.exists()


def test_failed_replace_keeps_the_previous_version(clean_log, tmp_path, monkeypatch):
    from audit_analytics.report import write as write_module

    report = build_report(clean_log, "2024-01")
    first = report.write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = write_module.prepare_write

    def failing(path, data, **kw):  # staging the second format fails
        if str(path).endswith(".json"):
            raise OutputError(f"cannot write {path}: disk full")
        return real(path, data, **kw)

    monkeypatch.setattr(write_module, "prepare_write", failing)
    with pytest.raises(OutputError, match="disk full"):
        report.write(tmp_path, replace=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert first.version == 1
