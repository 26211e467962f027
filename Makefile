# audit_analytics: `make demo` runs the main job on the committed samples,
# `make test` runs the whole suite. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint samples bench bench-pg bench-checks clean

$(STAMP): pyproject.toml setup.py audit_analytics/_native.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,notebooks]'
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

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check audit_analytics tests benchmarks

samples: $(STAMP)
	$(PY) -m audit_analytics.samples.build data_samples

bench: $(STAMP)
	$(PY) benchmarks/bench_verify.py

clean:
	rm -rf $(VENV) build *.egg-info audit_analytics/*.so
