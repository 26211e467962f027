# audit_analytics: `make demo` runs the main job on the committed samples,
# `make test` runs the whole suite. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Every release `make install` (and so CI) installs: refreshed only by `make lock`.
LOCK   := constraints.txt
EXTRAS := dev,notebooks,s3,pdf,dask

.PHONY: install lock demo test lint samples bench bench-archive bench-pg bench-checks bench-report bench-storage \
        pg-samples clean system-libs preview

# Debian packages the 'pdf' extra (weasyprint) loads at run time, and those `make preview`
# renders the report with. Each is installed only when its library or program is missing.
PDF_LIBS     := libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
                libharfbuzz-subset.so.0:libharfbuzz-subset0 libfontconfig.so.1:libfontconfig1
PREVIEW_BINS := chromium:chromium pdftoppm:poppler-utils
APT_GET      := DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0

# Missing libraries are installed with apt-get as root; otherwise the command is printed.
system-libs:
	@missing=""; for pair in $(PDF_LIBS); do lib=$${pair%%:*}; pkg=$${pair##*:}; \
	  ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (PDF reports)"; \
	    $(APT_GET) update && $(APT_GET) install -y --no-install-recommends $$missing fonts-dejavu-core; \
	  else echo "PDF reports need:$$missing (apt-get install$$missing)"; fi; fi

$(STAMP): pyproject.toml setup.py $(LOCK) $(wildcard audit_analytics/chain/native/*.c audit_analytics/chain/native/*.h)
	@$(MAKE) --no-print-directory system-libs
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(LOCK) -e '.[$(EXTRAS)]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

# Resolve pyproject.toml's ranges afresh in a scratch environment and pin the result in
# $(LOCK); commit it deliberately, after `make test` passes on it.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	{ echo "# The releases make install and CI install (pip install -c $(LOCK)), made by"; \
	  echo "# make lock from the ranges in pyproject.toml on Python $$(.lock-venv/bin/python -V | cut -d' ' -f2)."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf .lock-venv

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

bench-archive: $(STAMP)
	$(PY) benchmarks/bench_archive.py

bench-pg: $(STAMP)
	$(PY) benchmarks/bench_pg.py

bench-checks: $(STAMP)
	$(PY) benchmarks/bench_checks.py

bench-report: $(STAMP)
	$(PY) benchmarks/bench_report.py

bench-storage: $(STAMP)
	$(PY) benchmarks/bench_storage.py

# Load the sample chains into PostgreSQL: make pg-samples PG_URL=postgresql://user:pass@host/db
pg-samples: $(STAMP)
	@test -n "$(PG_URL)" || { echo "usage: make pg-samples PG_URL=postgresql://..."; exit 2; }
	$(PY) -m audit_analytics.samples.load_postgres "$(PG_URL)" --samples data_samples

# The demo month's report as a reviewer sees it: the HTML page in headless Chromium and
# each PDF page, as PNG files in reports/preview/.
preview: $(STAMP)
	@missing=""; for pair in $(PREVIEW_BINS); do bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v "$$bin" >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then $(APT_GET) update && $(APT_GET) install -y --no-install-recommends $$missing; fi
	$(PY) -m audit_analytics.samples.preview reports/preview

clean:
	rm -rf $(VENV) .lock-venv build *.egg-info audit_analytics/*.so audit_analytics/chain/*.so
