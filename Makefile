# Two commands: `make run` (set up, build the demo GeoPackage, start the app) and `make test`.
SHELL := /bin/bash
# Python 3.11, 3.12 or 3.13 (requires-python in pyproject.toml); 3.11 when present, else python3
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the other supported Pythons `make test` also runs the fast suite on (scripts/test-versions.sh)
TEST_VERSIONS ?= 3.12 3.13
STORE ?= var/landrenew.gpkg
PORT ?= 8501
# the app listens on this address only (0.0.0.0: every interface; see README, Deployment and security)
ADDRESS ?= 127.0.0.1
# Debian packages the tests need: PostGIS server, its client (pg_dump/pg_restore for backups), Chromium for browser tests, GDAL's ogrinfo/ogr2ogr, CJK fonts,
# LibreOffice Writer (plan .docx -> PDF) and poppler-utils (pdftotext, pdffonts)
DEB_PACKAGES := postgresql-15-postgis-3 postgresql-client-15 chromium gdal-bin fonts-noto-cjk libreoffice-writer-nogui poppler-utils

.PHONY: setup system-deps demo run test test-fast test-versions lint docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "Python 3.11-3.13 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# Installs the Debian packages when one is missing (needs root or sudo; CI runs as root).
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STORE): | $(STAMP)
	$(BIN)/landrenew demo --store $(STORE)

# The first admin of the app: password from $$LANDRENEW_ADMIN_PASSWORD or generated, kept in a 0600 file.
ADMIN_PASSWORD_FILE := $(dir $(STORE))admin-password.txt
$(ADMIN_PASSWORD_FILE): | $(STORE)
	@umask 077; pw="$${LANDRENEW_ADMIN_PASSWORD:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(9))')}"; \
	printf '%s\n' "$$pw" | $(BIN)/landrenew users add admin --role admin --password-stdin --replace --store $(STORE) \
	&& printf '%s\n' "$$pw" > $@

demo: $(STORE)

run: setup demo $(ADMIN_PASSWORD_FILE)
	@echo "登录 http://localhost:$(PORT) ：用户名 admin，密码 $$(cat $(ADMIN_PASSWORD_FILE))（保存在 $(ADMIN_PASSWORD_FILE)）"
	LANDRENEW_STORE=$(STORE) $(BIN)/streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) --server.headless true

# lint first (fast, fails early), then the whole suite, then the fast suite on the other supported Pythons
test: setup system-deps lint
	$(BIN)/python -m pytest -p no:cacheprovider
	$(MAKE) test-versions

test-fast: setup
	$(BIN)/python -m pytest -m "not browser and not postgis and not slow"

# .venv-3.12 and .venv-3.13 from the same constraints; the fast suite on each (scripts/test-versions.sh)
test-versions:
	bash scripts/test-versions.sh $(TEST_VERSIONS)

# ruff, configured in pyproject.toml: lint rules and the formatter's check (`ruff format .` applies it)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# docs/data-contract.md is generated from layers/*.yaml (tests/test_docs.py fails while it is stale)
docs: setup
	$(BIN)/python scripts/gen_docs.py

bench: setup
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache
