"""The reviewer's deliverable: control matrix, readable evidence, CSV of findings, a real PDF."""

import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import audit_analytics as aa
from audit_analytics.policy import Policy
from audit_analytics.report import build_report
from audit_analytics.report.controls import CATALOGUE, FRAMEWORKS, control_matrix
from audit_analytics.report.render import VISIBLE_ROWS, table
from audit_analytics.report.spreadsheet import csv_cell
from audit_analytics.samples.activity import month_policy
from audit_analytics.samples.month import policy_toml
from audit_analytics.trail.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "data_samples/python_seed/clean.parquet"


def _policy_file(folder: Path) -> Path:
    """The generated month's policy (America/New_York) as a TOML file."""
    path = folder / "hospital.toml"
    path.write_text(policy_toml(month_policy()))
    return path


@pytest.fixture(scope="module")
def month_report(activity_month):
    with aa.open(activity_month["month"], journal=False) as log:
        yield build_report(log, "2024-03", policy=Policy.from_dict(month_policy()))


@pytest.fixture(scope="module")
def month_html(month_report):
    return month_report.to_html()


class Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.controls = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])
        if tag == "tr" and "data-control" in a:
            self.controls.append((a["data-control"], a["data-control-status"]))


# --- the control matrix ------------------------------------------------------------------------
def test_matrix_status_is_the_worst_claiming_check_and_uncovered_controls_are_listed(
        month_report):
    matrix = month_report.to_dict()["controls"]
    assert matrix["framework"] == "all"
    by_id = {c["id"]: c for c in matrix["controls"]}
    # every control a check of the report claims is in the matrix, with the worst status
    for check in month_report.checklist:
        for control in check["controls"]:
            claimed = [c for c in month_report.checklist if control in c["controls"]]
            worst = max((c["status"] for c in claimed), key=("pass", "warn", "fail").index)
            assert by_id[control]["status"] == worst, control
            assert check["name"] in [k["name"] for k in by_id[control]["checks"]]
    # the catalogue's controls no check covers are there, as "not assessed"
    assert set(by_id) >= {f"{p} {r}" for p, r, _ in CATALOGUE}
    assert by_id["PCI DSS 10.6.1"]["status"] == "not assessed"
    assert by_id["PCI DSS 10.6.1"]["checks"] == []
    assert "PCI DSS 10.6.1" in matrix["not_assessed"]
    # the month has a logging gap (retention_coverage fails) and clean chain integrity
    assert by_id["PCI DSS 10.5.1"]["status"] == "fail"
    assert by_id["HIPAA 164.312(c)(1)"]["status"] == "pass"
    assert sum(matrix["counts"].values()) == len(matrix["controls"])
    # review_cadence is not in the policy's checks: its own control is not assessed
    assert by_id["PCI DSS 10.4.2"]["status"] == "not assessed"


def test_matrix_in_the_html_links_to_the_evidence(month_report, month_html):
    page = Ids()
    page.feed(month_html)
    assert month_html.index('id="controls"') < month_html.index('id="scope"')
    matrix = month_report.controls
    assert page.controls == [(c["id"], c["status"]) for c in matrix["controls"]]
    assert page.hrefs and set(page.hrefs) <= set(page.ids)  # every link lands somewhere
    assert {f"check-{c['name']}" for c in month_report.checklist} <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))  # ids are unique, SVG ones included


def test_a_claimed_control_missing_from_the_catalogue_is_listed():
    rows = [{"name": "x", "status": "warn", "controls": ["SOC 2 CC9.9", "HIPAA 164.312(b)"]}]
    matrix = control_matrix(rows, "soc2")
    assert matrix["frameworks"] == ["SOC 2"]
    ids = [c["id"] for c in matrix["controls"]]
    assert "SOC 2 CC9.9" in ids and not any(i.startswith("HIPAA") for i in ids)
    assert next(c for c in matrix["controls"] if c["id"] == "SOC 2 CC9.9")["status"] == "warn"


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_framework_option_keeps_one_framework(cli, tmp_path, framework):
    done = cli("report", CLEAN, "--period", "2024-01", "--out", tmp_path, "--format", "json",
               "--framework", framework, env={"AUDIT_ANALYTICS_JOURNAL": "off"})
    assert done.returncode == 0, done.stderr
    matrix = json.loads((tmp_path / "audit-report_2024-01.json").read_text())["controls"]
    assert matrix["framework"] == framework
    assert {c["framework"] for c in matrix["controls"]} == {FRAMEWORKS[framework]}
    want = sum(p == FRAMEWORKS[framework] for p, _, _ in CATALOGUE)
    assert len(matrix["controls"]) >= want


def test_unknown_framework_is_bad_input(cli, tmp_path):
    done = cli("report", CLEAN, "--period", "2024-01", "--out", tmp_path / "o",
               "--framework", "iso27001")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown framework" in done.stderr
    assert not (tmp_path / "o").exists()


# --- readable evidence ------------------------------------------------------------------------
def test_times_are_in_the_policy_zone_to_the_second(month_report, month_html):
    visible = re.sub(r"<svg.*?</svg>", "", month_html, flags=re.S)
    assert "Times are in America/New_York (EST/EDT)" in visible
    # no raw UTC ISO instant with microseconds is left in what the reviewer reads
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{3,6}", visible)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", re.sub(r"<style.*?</style>", "",
                                                                    visible, flags=re.S))
    spike = next(a for a in month_report.anomalies if a["check"] == "volume_spike")
    assert spike["window_start"] == "2024-03-13T08:00:00+00:00"  # the JSON keeps UTC
    assert "2024-03-13 04:00:00 EDT to 2024-03-14 04:00:00 EDT" in visible
    assert "2024-03-01 00:00:00 EST" in visible  # the period's start, before the DST switch


def test_numbers_have_thousands_separators_and_do_not_wrap(month_report, month_html):
    rows = month_report.integrity["rows"]
    assert rows > 100_000
    segments = month_html[month_html.index('class="data segments"'):]
    segments = segments[:segments.index("</table>")]
    assert f'<td class="num">{rows:,}</td>' in segments and f">{rows}<" not in segments
    assert "td.num, th.num { text-align: right; white-space: nowrap; }" in month_html


def test_long_tables_show_the_first_rows_and_the_count():
    records = [{"actor_id": f"a{i}", "value": 1000 + i} for i in range(60)]
    t = table(records, limit=50)
    assert t["total"] == 60 and len(t["rows"]) == VISIBLE_ROWS
    assert len(t["more"]) == 50 - VISIBLE_ROWS and t["shown"] == 50
    assert t["kinds"] == ["text", "num"] and str(t["rows"][0][1]) == "1,000"
    assert str(t["rows"][0][0]) == "a0"  # identifiers keep their digits


def test_each_anomaly_has_a_timeline_against_its_baseline(month_report, month_html):
    with_timeline = [a for a in month_report.anomalies if "timeline" in a]
    assert len(with_timeline) == len(month_report.anomalies)
    for a in with_timeline:
        line = a["timeline"]
        flagged = [b for b in line["buckets"] if b["flagged"]]
        assert flagged and len(line["buckets"]) > len(flagged)
        if a["check"] in ("volume_spike", "broad_access", "bulk_export"):
            # the flagged bucket is exactly the actor-day the check counted
            assert [b["value"] for b in flagged] == [a["value"]]
            assert line["baseline"] == a["baseline"] and line["threshold"] == a["threshold"]
        if a.get("kind") == "burst":
            assert flagged[0]["value"] >= a["value"]  # every failure of the burst, at least
        svg = a["timeline_svg"]
        assert svg.startswith("<svg") and svg.count("<rect") == len(line["buckets"])
        assert svg.count('fill="#c44e52"') == len(flagged)  # the flagged buckets in red
    summary = month_report.to_dict()
    assert all("timeline_svg" not in a for a in summary["anomalies"])
    assert all(a["timeline"]["buckets"] for a in summary["anomalies"])
    assert month_html.count('<figure class="timeline">') == len(with_timeline)
    burst = next(a for a in month_report.anomalies if str(a["actor_id"]).startswith("ip:"))
    assert burst["evidence"], "failures without an actor are found by their address"


def test_timeline_buckets_count_the_actors_events_or_everyones(month_report, activity_month):
    """Every bucket holds what the log holds: the actor's events (keyed as the checks key
    them), or everyone's for a window without an actor (a logging gap)."""
    import pyarrow.parquet as pq

    table = pq.read_table(activity_month["month"])
    stamp = pd.Series(table["timestamp"].cast("int64").to_numpy())  # microseconds
    events = table.drop(["timestamp"]).to_pandas()
    key = events["actor_id"].fillna("ip:" + events["ip_address"].fillna("unknown"))
    failing = events["result"].isin(["failure", "denied"])
    watched = events["resource_type"] == "patient_record"
    kinds = set()
    for a in month_report.anomalies:
        line = a["timeline"]
        everyone = a["actor_id"] is None or a["check"] == "retention_coverage"
        mine = (key == str(a["actor_id"])) if not everyone else key.notna()
        kinds.add("everyone" if everyone else "actor")
        width = int(line["bucket_seconds"] * 1_000_000)
        for bucket in line["buckets"]:
            begin = int(pd.Timestamp(bucket["start"]).value // 1000)
            inside = mine & (stamp >= begin) & (stamp < begin + width)
            expected = {"events": int(inside.sum()), "failures": int((inside & failing).sum()),
                        "exports": int((inside & (events["action"] == "export")).sum()),
                        "resources": events.loc[inside & watched, "resource_id"].nunique()
                        }[line["metric"]]
            assert bucket["value"] == expected, (a["check"], a["actor_id"], bucket)
    assert kinds == {"actor", "everyone"}


def test_json_caps_a_checks_findings_at_the_first_thousand(tmp_path):
    """A check with more findings than the JSON holds: the first ones, as the checklist
    gives them, their total, and the mark that the list was cut."""
    from itertools import count

    from hostile import hostile_log

    from audit_analytics.checks import run_checks
    from audit_analytics.report.sections import MAX_JSON_FINDINGS

    serial = count()

    def odd_type(event):  # a value outside the allowed set for every event: one row each
        event["actor_type"] = f"kind-{next(serial):05d}"

    source = hostile_log(tmp_path / "types.parquet", odd_type)
    with aa.open(source, journal=False) as log:
        report = build_report(log, "2024-01")
        report.write(tmp_path / "out", ledger=False)
        own = run_checks(log, since="2024-01-01", until="2024-02-01").to_dict()
    summary = json.loads((tmp_path / "out" / "audit-report_2024-01.json").read_text())
    check = next(c for c in summary["checks"] if c["name"] == "required_fields")
    expected = next(c for c in own["checks"] if c["name"] == "required_fields")["findings"]
    assert len(expected) > MAX_JSON_FINDINGS
    assert check["findings_total"] == len(expected) and check["findings_truncated"] is True
    assert check["findings"] == expected[:MAX_JSON_FINDINGS]
    short = [c for c in summary["checks"] if c["findings_total"] <= MAX_JSON_FINDINGS]
    assert short and all("findings_truncated" not in c for c in short)


# --- CSV ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\\tx"), ("\r=1", "'\\r=1"), ("plain", "plain"),
    (5, 5), (-1.5, -1.5), (None, ""), (["=a", "b"], "'=a, b"),
])
def test_csv_cells_never_start_a_formula(text, cell):
    assert csv_cell(text) == cell


def test_csv_has_one_row_per_finding(cli, tmp_path, activity_month):
    policy = _policy_file(tmp_path)
    done = cli("report", activity_month["month"], "--period", "2024-03", "--policy", policy,
               "--out", tmp_path / "out", "--format", "json,csv")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "audit-report_2024-03.json").read_text())
    rows = list(csv.DictReader(io.StringIO((out / "audit-report_2024-03.csv").read_text())))
    assert len(rows) == sum(c["findings_total"] for c in summary["checks"])
    assert [r["check"] for r in rows].count("volume_spike") == 2
    spike = next(r for r in rows if r["check"] == "volume_spike")
    assert spike["actor_id"] == "md-001" and spike["window_start"] == "2024-03-13T08:00:00+00:00"
    assert spike["value"] == "119" and "SOC 2 CC7.2" in spike["controls"]
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


def test_csv_neutralises_hostile_values(cli, tmp_path):
    import pyarrow.parquet as pq
    from hostile import hostile_log, replace_actor

    # the actor of the sample's unauthorized reads of the log: a finding names it
    reads = pq.read_table(CLEAN).to_pylist()
    reader = next(r["actor_id"] for r in reads if r["action"] == "view_audit_log"
                  and r["actor_type"] == "user")
    evil = "=cmd|' /C calc'!A0"
    source = hostile_log(tmp_path / "evil.parquet", replace_actor(reader, evil))
    done = cli("report", source, "--period", "2024-01", "--out", tmp_path / "out", "--format",
               "csv", env={"AUDIT_ANALYTICS_JOURNAL": "off"})
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "audit-report_2024-01.csv").read_text()
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'" + evil in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)


# --- PDF ----------------------------------------------------------------------------------------
def test_pdf_renders_pages_with_the_period_verdict_and_every_check(cli, tmp_path,
                                                                  activity_month):
    pypdf = pytest.importorskip("pypdf")
    policy = _policy_file(tmp_path)
    home = tmp_path / "home"
    done = cli("report", activity_month["month"], "--period", "2024-03", "--policy", policy,
               "--out", tmp_path / "out", "--format", "html,json,pdf",
               env={"AUDIT_ANALYTICS_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # weasyprint's notes on screen-only CSS are not the reader's
    pdf = tmp_path / "out" / "audit-report_2024-03.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert 8 <= len(reader.pages) <= 40
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "Audit log review 2024-03" in flat
    assert "2024-03-01 00:00:00 EST" in flat and "2024-04-01 00:00:00 EDT" in flat
    assert "Integrity: intact" in flat
    summary = json.loads((tmp_path / "out" / "audit-report_2024-03.json").read_text())
    for check in summary["checklist"]:
        assert check["name"] in flat, check["name"]
    assert f"page 1 of {len(reader.pages)}" in flat
    assert "Reviewer sign-off" in flat
    # the PDF is recorded in the ledger with its own SHA-256, and verifies
    entry = Ledger(home).entries().iloc[-1]
    files = entry["files"]
    assert files["pdf"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert files["pdf"]["path"] == str(pdf.resolve())
    assert cli("ledger", "verify", env={"AUDIT_ANALYTICS_HOME": str(home)}).returncode == 0
    pdf.write_bytes(data[:-10] + b"%%EOF\n\n\n\n")
    tampered = cli("ledger", "verify", env={"AUDIT_ANALYTICS_HOME": str(home)})
    assert tampered.returncode == 1 and "report_altered" in tampered.stdout


def test_pdf_tables_repeat_their_header_on_every_page(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    from audit_analytics.report.write import render_pdf

    rows = "".join(f"<tr><td>row {i}</td><td>{i}</td></tr>" for i in range(400))
    html = ("<html><head><style>@media print { thead { display: table-header-group; } }"
            "</style></head><body><table><thead><tr><th>HEADERCELL</th><th>n</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></body></html>")
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(html)))
    assert len(reader.pages) > 3
    assert all("HEADERCELL" in page.extract_text() for page in reader.pages)


def test_pdf_without_the_extra_exits_2(tmp_path):
    """Without weasyprint (hidden from the interpreter), --format pdf is bad input."""
    import os
    import subprocess
    import sys

    hide = tmp_path / "hide" / "weasyprint"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('No module named weasyprint')\n")
    env = {**os.environ, "PYTHONPATH": str(hide.parent)}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "audit_analytics", "report", str(CLEAN),
                           "--period", "2024-01", "--format", "html,pdf", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install audit_analytics[pdf]" in done.stderr
    assert not out.exists() or list(out.iterdir()) == []
