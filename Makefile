# The two commands a newcomer needs: `make run` and `make test`. Each does its own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
RASA        := $(VENV)/bin/rasa
STAMP       := $(VENV)/.installed
MODEL       := models/assistant.tar.gz
TRAIN_INPUTS := config.yml bot/facility_faq.yml bot/facility_faq.py \
                $(shell find bot/domain bot/data -name '*.yml' 2>/dev/null) \
                $(shell find bot/nlu bot/policies bot/safety -name '*.py' 2>/dev/null)
RASA_PATHS  := --domain bot/domain --data bot/data --config config.yml

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# Two cores: one TensorFlow op at a time, each using both cores.
export TF_INTER_OP_PARALLELISM_THREADS := 1
export TF_INTRA_OP_PARALLELISM_THREADS := 2
# The sentence encoder's matrix products are a dozen rows each: one NumPy (OpenBLAS) thread,
# so requests running side by side do not fight over the two cores.
export OPENBLAS_NUM_THREADS := 1

.PHONY: help install browser haproxy train run run-cluster soak chat test lint validate unit conversations nlu-report bench clean

help:
	@echo "make run          serve the assistant (REST channel + HTTP API) on embedded defaults"
	@echo "make test         lint, validate data, unit tests, train if needed, end-to-end and cluster tests"
	@echo "make run-cluster  the production profile: 2 Rasa instances behind HAProxy, on PostgreSQL, Redis and RabbitMQ"
	@echo "make chat         talk to the assistant in this terminal (uses 'make run' if it is up, else starts one)"
	@echo "make nlu-report   cross-validated intent accuracy and per-topic F1"
	@echo "make soak         the production profile under 200 conversations for 2 minutes, and one instance's limit"
	@echo "make bench        latency, throughput and memory against a minimal Rasa baseline"
	@echo "make train        train the model now (run and test do it when the data changed)"
	@echo "make install      only the set-up: the virtualenv and its packages (run and test do it)"
	@echo "make lint | validate | unit   the first steps of make test, one at a time"
	@echo "make clean        remove test results, bench figures and soak logs (never var/)"

$(STAMP): pyproject.toml encoder-requirements.txt
	@PYTHON310=$$(scripts/find_python310.sh) && \
	  { [ -x $(PY) ] && $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' \
	    || { echo "Creating $(VENV) with $$PYTHON310"; rm -rf $(VENV); $$PYTHON310 -m venv $(VENV); }; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps --require-hashes -r encoder-requirements.txt
	@touch $@

install: $(STAMP)

# The widget's browser tests use Debian's chromium (Playwright's own browser download does not
# work here). Installed once, as root or through sudo; the tests say loudly if it is missing.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q chromium >/dev/null \
	    || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } \
	    || echo "Could not install chromium: the browser tests will fail (CI) or be skipped."; \
	fi

# The production profile's load balancer (make run-cluster, the cluster tests): Debian's
# HAProxy, installed once like chromium above.
HAPROXY := /usr/sbin/haproxy
haproxy:
	@if [ ! -x $(HAPROXY) ]; then \
	  echo "Installing Debian's haproxy for the production profile"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q haproxy >/dev/null \
	    || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q haproxy >/dev/null; } \
	    || echo "Could not install haproxy: make run-cluster and the cluster tests will fail."; \
	fi

# Retrains only when the model is missing or older than the data, domain or config;
# `rasa train` itself also skips parts whose inputs did not change.
# The model is dated when training started, not when it ended, so a file edited while
# training ran is newer than the model and the next run trains again. The packages come
# first but do not date the model (order-only): reinstalling them, or adding a dev tool to
# pyproject.toml, is no reason for a 15-minute retrain (Rasa itself refuses a model trained
# by an incompatible version, and says so).
$(MODEL): $(TRAIN_INPUTS) | $(STAMP)
	@$(PY) -m bot.facility_faq
	@started=$$(date +%Y%m%d%H%M.%S) && \
	  $(RASA) train $(RASA_PATHS) --out models --fixed-model-name assistant && \
	  touch -t $$started $@

train: $(MODEL)

# The profile is checked before any retraining, so a mistake in it shows in seconds, not
# after ten minutes of training.
run: $(STAMP)
	@$(PY) -m bot.facility_check
	@$(MAKE) --no-print-directory $(MODEL)
	$(PY) -m scripts.serve

# Needs PostgreSQL, Redis and RabbitMQ (DATABASE_URL, CLUSTER_TRACKER_URL, REDIS_URL,
# RABBITMQ_URL; .env.example).
run-cluster: $(STAMP) haproxy
	@$(PY) -m bot.facility_check
	@$(MAKE) --no-print-directory $(MODEL)
	$(PY) -m scripts.cluster

chat: $(STAMP)
	$(PY) -m scripts.chat

# Lint first, as Rasa's reference assistants do in CI: a lint failure is as red as a test.
lint: $(STAMP)
	$(VENV)/bin/ruff check bot connectors scripts tests

validate: $(STAMP)
	$(PY) -m bot.facility_check
	$(PY) -m bot.facility_faq
	$(RASA) data validate $(RASA_PATHS)

unit: $(STAMP)
	$(PY) -m pytest -m "not stack" -q

conversations: $(MODEL) browser haproxy
	$(RASA) test core --model $(MODEL) --stories tests/conversations \
	  --fail-on-prediction-errors --out results/conversations
	$(PY) -m pytest -m stack -q

test: lint validate unit conversations

nlu-report: $(STAMP)
	$(PY) -m scripts.nlu_report

bench: $(MODEL)
	$(PY) -m scripts.bench

# About 10 minutes: a cluster of its own on throwaway PostgreSQL databases (scripts/soak.py).
soak: $(MODEL) haproxy
	$(PY) -m scripts.soak

# Never var/: it holds the conversations, the leads and any lead still waiting in a spool.
clean:
	rm -rf results bench-results var/soak-*
