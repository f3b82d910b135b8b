# zufang-stack: one entry point for developers and CI.
#   make test   - every suite the repository has (what CI runs; installs what it needs)
#   make dev    - MariaDB + Redis + migrations + small seed, then the service on 127.0.0.1:8080
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Suites that `make test` runs, in order. Each area owns its runner script.
TEST_SUITES := test-app test-terraform test-k8s test-edge test-monitoring test-bench test-images test-contract test-zabbix test-queue test-s3 test-photos test-worker test-stack

.PHONY: help test $(TEST_SUITES) test-stack dev services bench up down clean images-offline images-refresh backup backups restore deploy rollback sql redis-cli
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

test: ## run every test suite (installs and starts what the suites need); all run, a summary table at the end
	@scripts/ci/run-suites.sh $(TEST_SUITES)

test-app: ## zufang service: fmt, clippy, unit + integration tests on real MariaDB and Redis
	scripts/ci/test-app.sh

test-contract: ## the OpenAPI contract: schemathesis --checks all against a real seeded instance as anonymous, user, agent, admin
	app/tests/contract/run.sh

test-photos: ## photo routes, outbox relay and /media/ against a real RabbitMQ and Garage (root: docker)
	app/tests/photos/run.sh

test-worker: ## zufang worker and jobs dlq: the real binaries against a real RabbitMQ, Garage, MariaDB and Redis (root: docker)
	app/tests/worker/run.sh

test-terraform: ## Terraform: fmt, init, validate, terraform test (mocked aws), policy, checkov, cloud-init (no cloud)
	deploy/terraform/tests/run.sh

test-k8s: ## Kubernetes manifests: render, schema-validate, checkov, consistency, real-binary checks (no cluster)
	k8s/tests/run.sh

test-edge: ## edge: nginx -t, gixy, keepalived, live HTTP + headless browser, netns failover
	nginx/tests/run.sh

test-monitoring: ## monitoring: promtool/amtool tests, live Alertmanager, dashboards vs a live Prometheus
	monitoring/tests/run.sh

test-zabbix: ## Zabbix 6.0: template import, hosts, values and triggers on a real server; the offline images on their own
	monitoring/zabbix/tests/run.sh
	monitoring/zabbix/images/tests/run.sh

test-bench: ## bench/: sysbench, wrk load and report scripts on real MariaDB + app (pytest)
	bench/tests/run.sh

services: ## install (if needed) and start MariaDB and Redis on this machine
	scripts/ci/services.sh

dev: ## fresh clone -> running service on 127.0.0.1:8080 (MariaDB + Redis, migrations, small seed)
	scripts/dev.sh

bench: ## HTTP benchmark on loopback (bench seed); writes docs/performance.md
	bench/http/performance.sh

up: ## the whole stack with one command (installs Docker + Compose when missing; offline images when no registry)
	scripts/up.sh

down: ## stop the stack (keeps volumes)
	scripts/ops/down.sh

clean: ## stop the stack and drop its volumes (data and generated secrets) except the backups
	scripts/ops/clean.sh

backup: ## take a full MariaDB backup now (the `backup` service also takes one every 6 h)
	scripts/ops/backup.sh backup

backups: ## list the backups (age, size) and the point-in-time restore window
	scripts/ops/backup.sh list

deploy: ## zero-downtime app release, one replica at a time (IMAGE=... to take an existing image); docs/runbooks/deploy.md
	scripts/ops/deploy.sh $(if $(IMAGE),--image "$(IMAGE)")

rollback: ## the previous app image, the same walk
	scripts/ops/deploy.sh rollback

restore: ## restore MariaDB: latest, or UNTIL='YYYY-MM-DD HH:MM:SS' (UTC); docs/runbooks/restore.md
	scripts/ops/backup.sh restore $(if $(UNTIL),"$(UNTIL)")

sql: ## MariaDB as root on the running stack: make sql SQL="SHOW FULL PROCESSLIST" (no SQL: interactive)
	@scripts/ops/console.sh sql $(if $(SQL),-e "$(SQL)")

redis-cli: ## redis-cli as the admin ACL user on the running stack: make redis-cli ARGS="info memory"
	@scripts/ops/console.sh redis $(ARGS)

images-offline: ## build every image (every profile's too) from a Debian mirror alone; writes .env.offline
	scripts/images/build.sh --all-profiles

images-refresh: ## re-fetch the Debian security/updates index dates and rebuild the offline images they change
	scripts/images/build.sh --refresh

test-images: ## offline-image inputs: hashed Python pins, debootstrap signature checks, base tag keyed by the security index
	scripts/images/tests/run.sh

test-queue: ## message broker: offline RabbitMQ image, definitions, permissions, retry/DLQ paths, metrics, durability on a real broker (pytest)
	rabbitmq/tests/run.sh

test-s3: ## object store: the offline Garage image set up by s3/init.py; keys, privacy, restart, metrics (pytest)
	s3/tests/run.sh

test-stack: ## whole stack: hadolint + shellcheck, offline images, compose up --wait, end-to-end tests, always down -v
	scripts/ci/lint-images.sh
	scripts/ci/stack.sh test
