# audit_analytics: `make demo` runs the main job on the committed samples,
# `make test` runs the whole suite. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint samples bench bench-pg bench-checks bench-report pg-samples clean

$(STAMP): pyproject.toml setup.py $(wildcard audit_analytics/chain/native/*.c audit_analytics/chain/native/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,notebooks,dask]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@echo "== a clean archive (profile detected automatically)"
	$(VENV)/bin/audit-analytics verify data_samples/python_seed/clean.parquet
	@echo "== a tampered archive, checked against its trusted anchors (exit 1 expected)"
	$(VENV)/bin/audit-analytics verify data_samples/python_seed/tampered/all.parquet \
		--anchor data_samples/python_seed/tampered/anchors.jsonl || test $$? -eq 1
	@echo "== the node-seed producer's archive, partitioned by day with text timestamps"
	$(VENV)/bin/audit-analytics verify data_samples/node_seed/clean_text_ts
	@echo "== the periodic review report for January 2024 (paths printed below)"
	$(VENV)/bin/audit-analytics report data_samples/python_seed/clean.parquet \
		--period 2024-01 --out reports/

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check audit_analytics tests benchmarks

samples: $(STAMP)
	$(PY) -m audit_analytics.samples.build data_samples

bench: $(STAMP)
	$(PY) benchmarks/bench_verify.py

bench-pg: $(STAMP)
	$(PY) benchmarks/bench_pg.py

bench-checks: $(STAMP)
	$(PY) benchmarks/bench_checks.py

bench-report: $(STAMP)
	$(PY) benchmarks/bench_report.py

# Load the sample chains into PostgreSQL: make pg-samples PG_URL=postgresql://user:pass@host/db
pg-samples: $(STAMP)
	@test -n "$(PG_URL)" || { echo "usage: make pg-samples PG_URL=postgresql://..."; exit 2; }
	$(PY) -m audit_analytics.samples.load_postgres "$(PG_URL)" --samples data_samples

clean:
	rm -rf $(VENV) build *.egg-info audit_analytics/*.so audit_analytics/chain/*.so
