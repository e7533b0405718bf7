# The README's commands. `make help` lists them.
.DEFAULT_GOAL := help
PY := .venv/bin/python

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## set up and run the product locally (SQLite + local Redis, demo data, logins printed)
	@bash scripts/run.sh

test: ## run the whole test suite against PostgreSQL and the local Redis
	@bash scripts/test.sh $(ARGS)

lint: ## ruff lint and format check, the layers contract (import-linter), migrations in step with models
	@$(PY) -m ruff check . && $(PY) -m ruff format --check . && .venv/bin/lint-imports && \
		$(PY) manage.py makemigrations --check --dry-run

bench: ## list the benchmarks (each prints how to run it)
	@ls bench/*.py
