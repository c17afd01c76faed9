# `make book` builds the book into _build/html; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The book's notebooks run without progress bars (they would be widgets in the page).
export COMPANION_PROGRESS := 0

.PHONY: book test venv clean student-notebooks

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; an open range would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet $$(grep '^torch==' requirements.txt)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: $(STAMP)
	$(BIN)/ruff check companion tests benchmarks
	$(BIN)/python -m pytest tests --durations=10

student-notebooks: $(STAMP)
	$(BIN)/python -m companion student-notebooks student/ --force

clean:
	rm -rf _build student
