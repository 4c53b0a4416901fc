# The few commands a newcomer needs. The README's two commands are the truth; CI runs .ci/run.
.PHONY: help install run test lint format types bench

help:  ## list the commands
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'

install:  ## create .venv with borderflow and the test tools
	python3 -m venv .venv && .venv/bin/pip install -e '.[test]'

run:  ## the README's first command
	python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/borderflow demo

test:  ## the README's second command (what CI runs)
	bash .ci/run

lint:  ## ruff
	.venv/bin/ruff check src tests benchmarks

format:  ## ruff format
	.venv/bin/ruff format src tests benchmarks

types:  ## mypy on src/
	.venv/bin/mypy

bench:  ## run every benchmark script
	for f in benchmarks/bench_*.py; do .venv/bin/python $$f || exit 1; done
