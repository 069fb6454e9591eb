# Two commands: `make run` (the whole product on embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DJANGO_DEBUG ?= true

.PHONY: run run-hsm serve test api-check lint messages clean bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed
	scripts/system-packages
	@$(MAKE) --no-print-directory serve

# The same demo with every key in an HSM: the PKCS#11 key vault on a SoftHSM2 token made under
# var/hsm/ (its own database and data there too, apart from `make run`'s). A real HSM is the same
# with CA_HSM_MODULE, CA_HSM_TOKEN_LABEL and CA_HSM_PIN_FILE pointing at it.
run-hsm: $(VENV)/.installed
	scripts/system-packages
	@mkdir -p var/hsm/softhsm
	@set -a && VAR_DIR="$(CURDIR)/var/hsm" && CA_KEY_VAULT_BACKEND=certificates.hsm.Pkcs11KeyVault && \
	  eval "$$(scripts/softhsm-token "$(CURDIR)/var/hsm/softhsm" firma-remota "$(CURDIR)/var/hsm/softhsm/user.pin")" && \
	  set +a && echo "Key vault: PKCS#11, token firma-remota (SOFTHSM2_CONF=$$SOFTHSM2_CONF)" && \
	  $(MAKE) --no-print-directory serve

# One worker for every queue is enough on one machine; production runs one per queue (README).
serve:
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@echo
	@echo "Panel:            http://127.0.0.1:8000/        (holders: see the JSON above)"
	@echo "Operator console: http://127.0.0.1:8000/operatore/"
	@echo "E-mails sent:     $${VAR_DIR:-var}/mail/"
	@echo
	@trap 'kill 0' INT TERM EXIT; \
	  $(VENV)/bin/celery -A config worker --beat -Q messages,signing,default --loglevel INFO --concurrency 2 & \
	  $(PY) manage.py runserver 127.0.0.1:8000

test: $(VENV)/.installed
	$(PY) -m pytest

# The OpenAPI contract (not part of `make test`): schemathesis against /api/schema/ on a live server
# (127.0.0.1) with a real bearer token — no server error, no answer off the schema, no undocumented
# status. Bounded: API_CHECK_MAX_EXAMPLES (30) cases per operation, a fixed seed, API_CHECK_SECONDS
# (300) for the whole run. Prints the figures (operations, cases, failures).
api-check: $(VENV)/.installed
	$(PY) -m pytest tests/signing/contract_openapi.py -p no:cacheprovider -s

# Load checks (not part of `make test`): print figures, assert only correctness, never time.
# - bench_outbox: no loss/no duplicate through real workers; BENCH_MESSAGES (default 10000) sets the size.
# - bench_reminders: the daily expiry-reminder job at 100k and 1M certificates (PostgreSQL only, skipped
#   otherwise: set DATABASE_URL); BENCH_SIZES ("100000,1000000") and BENCH_DUE (1000) set the sizes.
# - bench_signing: naive pyHanko loop vs the signer in process vs the batch API over gunicorn + a Celery
#   worker (and CSC signDoc), signHash vs raw RSA, worker peak RSS — on the software key vault, then on
#   the PKCS#11 vault (SoftHSM2 token), and the PKCS#11 rates as a share of the software vault's (target
#   70%); BENCH_DOCUMENTS (200), BENCH_HASHES (1000), BENCH_VALIDATE (all) set the sizes.
# - bench_renewal: the operators' approval queue (first page + count, and /operatore/rinnovi/ once the
#   view answers) at 1,000 and 10,000 pending requests in 50 organizations, the ratio (at most 3×) and
#   the plans (renewal_queue_idx on PostgreSQL); one renewal form PDF. BENCH_RENEWAL_SIZES ("1000,10000").
# - bench_load: wrk -c32 against gunicorn -w 2 in production settings on `make run`'s data — the holder's
#   profile page, the OAuth2 token and validation endpoints — each as a share of a bare view's requests/s
#   in the same run (target for the profile page: 30 %, p99 < 50 ms); SQLite, then PostgreSQL when
#   DATABASE_URL is set. Needs wrk (the Debian package, installed below: only `make bench` uses it).
#   BENCH_LOAD_SECONDS (10), BENCH_LOAD_CONNECTIONS (32).
# Runs in a throw-away VAR_DIR unless one is given.
bench: $(VENV)/.installed
	scripts/system-packages wrk
	@dir=$$(mktemp -d /tmp/firma-bench.XXXXXX); trap 'rm -rf "$$dir"' EXIT; \
	  VAR_DIR="$${VAR_DIR:-$$dir}" $(PY) -m pytest tests/bench/bench_outbox.py tests/bench/bench_reminders.py \
	  tests/bench/bench_signing.py tests/bench/bench_renewal.py tests/bench/bench_load.py \
	  -p no:cacheprovider -s -o python_files='bench_*.py'

# mypy reads the settings (django-stubs): DJANGO_DEBUG=true, exported above, lets them load without secrets.
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

# Re-extract and compile the catalogues after changing user-facing strings (needs GNU gettext).
messages: $(VENV)/.installed
	$(PY) manage.py makemessages --locale it --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*' --ignore 'static/*'
	$(PY) manage.py compilemessages --ignore '.venv/*' --ignore 'var/*'

clean:
	rm -rf var/celery var/test .pytest_cache
