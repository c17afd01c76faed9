# `make book` builds the book into _build/html; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# From npm: MathJax for the book's formulas, so that pages never fetch it from a CDN, and axe-core for
# the accessibility checks of the browser tests
NPM_PACKAGES := mathjax@3.2.2 axe-core@4.14.1
NPM_STAMP := build/npm/.installed
# The book's notebooks run without progress bars (they would be widgets in the page).
export COMPANION_PROGRESS := 0

.PHONY: book test test-book-scale venv npm-packages system-packages clean student-notebooks

venv: $(STAMP)

npm-packages: $(NPM_STAMP)

$(NPM_STAMP): Makefile
	@command -v npm > /dev/null || { echo "make needs npm for $(NPM_PACKAGES): apt-get install npm"; exit 1; }
	npm install --prefix build/npm --no-save --no-audit --no-fund --silent $(NPM_PACKAGES)
	touch $(NPM_STAMP)

# The system programs the tests use: Chromium and chromedriver (the browser checks), Stockfish (the
# chess chapter's judge) and npm (MathJax and axe-core). As root on Debian or Ubuntu the missing ones are installed;
# elsewhere one line says what to install, before any test runs.
SYSTEM_PACKAGES := /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver /usr/games/stockfish:stockfish
system-packages:
	@missing="$$(for pair in $(SYSTEM_PACKAGES); do [ -x "$${pair%%:*}" ] || echo "$${pair##*:}"; done; \
	  command -v npm > /dev/null || echo npm)"; missing="$$(echo $$missing)"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  echo "installing $$missing with apt-get"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing > /dev/null; \
	else echo "make test needs $$missing: run  sudo apt-get install $$missing  (or your system's equivalent)"; exit 1; fi

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; an open range would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet $$(grep '^torch==' requirements.txt)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

book: $(STAMP) $(NPM_STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# Every test at test scale, the book build and the browser checks included: what CI runs (its time is
# in benchmarks/RESULTS.md)
test: system-packages $(STAMP) $(NPM_STAMP)
	$(BIN)/ruff check companion tests benchmarks
	$(BIN)/python -m pytest tests -m "not book_scale" --durations=10

# What the published book shows: the book built at book scale, then every book-scale claims test and
# notebook on the results that build computed (one result cache for both)
test-book-scale: system-packages $(STAMP) $(NPM_STAMP)
	cache="$${COMPANION_CACHE:-$$(mktemp -d)/companion-cache}"; \
	COMPANION_CACHE="$$cache" COMPANION_SCALE=book $(BIN)/python -m pytest tests/test_book.py --durations=10 && \
	COMPANION_CACHE="$$cache" $(BIN)/python -m pytest tests -m book_scale --durations=10

student-notebooks: $(STAMP)
	$(BIN)/python -m companion student-notebooks student/ --force

clean:
	rm -rf _build student
