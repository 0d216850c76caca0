.DEFAULT_GOAL := help
VENV := .venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## install and run the embedded default (web app + worker) on http://localhost:5000/
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -e . && $(VENV)/bin/intake init && $(VENV)/bin/intake serve

test: ## install and run the whole test suite
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -e '.[test]' && $(VENV)/bin/pytest

test-pg: ## the suite on the local PostgreSQL and Redis, as CI runs it
	INTAKE_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
	INTAKE_TEST_BROKER_URL=redis://127.0.0.1:6379/15 $(VENV)/bin/pytest

lint: ## ruff and mypy
	$(VENV)/bin/ruff check intake workers tests && $(VENV)/bin/mypy

messages: ## extract user-facing strings into messages.pot and merge them into every language
	$(VENV)/bin/intake translations update

.PHONY: help run test test-pg lint messages
