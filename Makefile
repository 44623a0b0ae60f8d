# Sluice top-level commands. `make` (or `make help`) lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

JOBS ?= 2
# Compiled objects are cached across clones (ccache, when installed; see CMakeLists.txt).
export CCACHE_DIR ?= $(HOME)/.cache/sluice/ccache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_MAXSIZE ?= 8G
# Hits across clones in other folders (CI builds a fresh clone): debug info keeps the first path.
export CCACHE_NOHASHDIR ?= 1
CTEST := ctest --output-on-failure --no-tests=ignore
STACK := bash scripts/stack.sh
LINT_DIRS := $(wildcard libs services tools agent cli e2e fuzz)
# $(call need_build,DIR,TARGET): fail with a hint when DIR has not been configured.
need_build = @test -f $(1)/CTestTestfile.cmake || { echo "no build in $(1): run make $(2) first"; exit 1; }

# The tiers of `make test`, cheapest first so a failure stops the run early, except where the
# order saves time on a fresh machine:
# prebuild starts the slow first builds later tiers need (the Kubernetes control plane from
# source, ~8-10 min; the clang fuzz build, 6-8 min) in the background at nice 19 (no-ops when
# cached, scripts/prebuild.sh). They then use the CPU the wait-bound tiers leave idle:
# integration, console, restore, compose (its first run makes the base image and every image)
# and e2e. fuzz-smoke, kube, charts and helm come after them and wait on the same locks
# (kube.sh build, fuzz.sh), never building twice; `test` waits for the background job and
# ends it if a tier fails. restore runs its own PostgreSQL.
# compose: its images hold the binaries of build/dev, which the build tier compiled and the
# tiers before tested (scripts/images.sh build --from build/dev), so the tree is compiled once for
# the dev build and once for asan, never a third time in the Dockerfile's Release build stage
# (~15 min on two idle cores, 47 min measured on a loaded machine); cached under ~/.cache/sluice.
# The source build of the images: `make images`, and .ci/run after `make test` when its BuildKit
# cache is warm. `make tidy` (clang-tidy, incremental) is not a tier: a cold run takes ~15 min.
# Times per tier: docs/operations.md ("How long make test takes").
# fuzz-smoke: every libFuzzer target of fuzz/ for FUZZ_SMOKE_SECONDS (its own clang build,
# build/fuzz; `make fuzz` runs them longer).
# chaos-smoke: a short seeded chaos run (test/chaos/chaos.py --tier smoke: 4 apps on 8 namespace
# hosts, 9 deployments, 8 faults, bounded at CHAOS_SMOKE_TIMEOUT); `make chaos` runs it longer.
TEST_TIERS := deps lint build schema-check unit prebuild build-asan unit-asan integration console restore compose e2e chaos-smoke fuzz-smoke kube charts helm

.PHONY: e2e-rollback help deps build build-asan stack-up stack-down stack-status unit unit-asan \
        integration e2e chaos chaos-smoke schema-check lint fuzz fuzz-smoke prebuild tidy tidy-changed charts test up down demo bench kube kube-up \
        kube-down kube-status helm restore console images images-check compose compose-up compose-down docker-up \
        docker-down deb

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

deps: ## Install Debian packages and fetch the Kafka broker jars (idempotent)
	@bash scripts/install-deps.sh

build: ## Configure and build the dev preset (build/dev)
	cmake --preset dev
	cmake --build --preset dev -j$(JOBS)

build-asan: ## Configure and build the asan preset (unit tests under ASan + UBSan)
	cmake --preset asan
	cmake --build --preset asan -j$(JOBS)

stack-up: ## Start the local stack (Kafka, PostgreSQL, Redis, Prometheus, Alertmanager; +Kubernetes with SLUICE_STACK_KUBE=1)
	@$(STACK) up

stack-down: ## Stop the local stack
	@$(STACK) down

stack-status: ## Show the local stack; fails if anything is down
	@$(STACK) status

kube-up: ## Start the local Kubernetes control plane (built from source on first use, ~8 min)
	@bash scripts/kube.sh up

kube-down: ## Stop the local Kubernetes control plane
	@bash scripts/kube.sh down

kube-status: ## Show the local Kubernetes control plane; fails if anything is down
	@bash scripts/kube.sh status

unit: ## Run the unit tests (dev build)
	$(call need_build,build/dev,build)
	$(CTEST) --test-dir build/dev -L unit -j$(JOBS)

unit-asan: ## Run the unit tests under the sanitizers (asan build)
	$(call need_build,build/asan,build-asan)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(CTEST) --test-dir build/asan -L unit -j$(JOBS)

# libFuzzer (clang, ASan + UBSan; build/fuzz): one target per parser of outside input, seeds in
# fuzz/corpus, every input that once failed in fuzz/crashes (replayed by the unit tests
# fuzz_replay_* of the gcc builds too). scripts/fuzz.sh says how to keep a finding.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
fuzz: ## Fuzz every parser for FUZZ_SECONDS each (default 300; FUZZ_MERGE=1 keeps new coverage in fuzz/corpus)
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh $(FUZZ_TARGETS)

fuzz-smoke: ## Fuzz every parser for FUZZ_SMOKE_SECONDS each (default 10): the tier of make test
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh

# `stack.sh with` starts what is down and stops afterwards only what it started.
integration: ## Run the integration tests against the local stack
	$(call need_build,build/dev,build)
	$(STACK) with -- $(CTEST) --test-dir build/dev -L integration -j1

# The mixed VM + Kubernetes scenarios need the control plane too (kube.sh builds it once, then
# starts it in seconds); both wrappers stop afterwards only what they started.
# Afterwards every configured secret (and every credential shape Sluice issues) is looked for in
# the logs the run wrote (test/e2e/secrets_in_logs.py); a hit fails the tier.
e2e: ## Run the end-to-end tests against the local stack and the local Kubernetes control plane
	$(call need_build,build/dev,build)
	@mkdir -p var/run && touch var/run/e2e-started
	rc=0; SLUICE_STACK_S3=1 bash scripts/kube.sh with -- $(STACK) with -- $(CTEST) --test-dir build/dev -L e2e -j1 || rc=1; \
	  python3 test/e2e/secrets_in_logs.py --since var/run/e2e-started || rc=1; exit $$rc

# Chaos (test/chaos/chaos.py, RELIABILITY.md): concurrent deployments to namespace hosts (prefix
# cx) under a seeded schedule of kill -9, SIGSTOP past a lease and FLUSHDB of the run's Redis
# database (and in `make chaos` also agent kills, link downs, the run's Prometheus down or silent,
# and restarts of the stack's broker and PostgreSQL through stack.sh: SLUICE_CHAOS_STACK_FAULTS=0
# leaves those out); a ledger of commands and host effects, and a checker that fails on any violation.
# The seed is printed; SLUICE_CHAOS_SEED=<seed> replays the schedule. timeout(1) bounds each run
# and SIGTERM makes the driver stop everything it started.
CHAOS_TIMEOUT ?= 900
CHAOS_SMOKE_TIMEOUT ?= 240
chaos: ## The chaos suite: more deployments and faults, seeded (SLUICE_CHAOS_SEED), bounded at CHAOS_TIMEOUT s
	$(call need_build,build/dev,build)
	$(STACK) with -- timeout -k 30 $(CHAOS_TIMEOUT) python3 test/chaos/chaos.py --tier full

chaos-smoke: ## A short seeded chaos run (the tier of make test), bounded at CHAOS_SMOKE_TIMEOUT s
	$(call need_build,build/dev,build)
	$(STACK) with -- timeout -k 30 $(CHAOS_SMOKE_TIMEOUT) python3 test/chaos/chaos.py --tier smoke

# The web console in Debian's headless chromium (playwright-core) and the OpenAPI conformance
# test of the public API, against services of their own on the local stack (test/console/).
console: ## Test the web console in headless chromium and the API against its OpenAPI document
	$(call need_build,build/dev,build)
	$(STACK) with -- $(CTEST) --test-dir build/dev -L console -j1

# Only the analysis + rollback scenarios on real hosts (test/e2e/rollback_e2e.sh); `make e2e`
# runs them too.
e2e-rollback: build ## Run the analysis and rollback scenarios on real hosts
	$(STACK) with -- $(CTEST) --test-dir build/dev -R rollback_e2e -j1

# Starts the control plane if it is down (building it once) and stops afterwards only what it
# started. Both halves run even if the first fails, so one run reports everything.
kube: ## Test the local Kubernetes control plane and the code that talks to it (ctest -L kube)
	$(call need_build,build/dev,build)
	bash scripts/kube.sh with -- bash -c 'rc=0; bash test/kube/control_plane_test.sh || rc=1; \
	  $(CTEST) --test-dir build/dev -L kube -j1 || rc=1; exit $$rc'

# The umbrella chart on the local control plane: install --wait, server-side dry-run of every
# rendered object, upgrade rolls a new ReplicaSet, uninstall leaves nothing (test/helm/).
helm: ## helm install / upgrade / uninstall of charts/sluice on the local Kubernetes control plane
	bash scripts/kube.sh with -- bash test/helm/umbrella_test.sh

# Its own PostgreSQL (Debian's binaries, its own port and data dir; never the stack's): base
# backup, WAL archive, destroy, restore, count, migrate (test/restore/).
restore: ## Backup and restore test: PITR from a base backup and archived WAL, no committed transition lost
	$(call need_build,build/dev,build)
	bash test/restore/restore_test.sh

# The sluice-agent Debian package (packaging/: CPack, Depends from dpkg-shlibdeps), from build/dev's
# binary (stripped); installed into a directory root and enrolled by agent_deb_test (e2e tier).
deb: ## Build the sluice-agent .deb (build/dev/packages/sluice-agent_<version>_amd64.deb)
	$(call need_build,build/dev,build)
	cmake --build build/dev --target sluice-agent -j$(JOBS)
	cd build/dev && cpack -G DEB
	dpkg-deb --info build/dev/packages/sluice-agent_*_amd64.deb

schema-check: ## Check that the event schemas changed only additively
	bash scripts/schema-check.sh

lint: ## clang-format check over the C++ sources
	@files=$$(find $(LINT_DIRS) -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) | sort); \
	if [[ -n "$$files" ]]; then \
	  clang-format --dry-run --Werror $$files; \
	  echo "lint: $$(wc -w <<<"$$files") files clean"; \
	fi

# Incremental: a translation unit found clean is skipped until it, a header it includes,
# .clang-tidy or clang-tidy changes (cache in ~/.cache/sluice/tidy; scripts/tidy.sh).
tidy: ## clang-tidy (the checks of .clang-tidy) over the dev build's translation units
	$(call need_build,build/dev,build)
	SLUICE_TIDY_JOBS=$(JOBS) bash scripts/tidy.sh

# Only the translation units whose source or included headers differ from TIDY_BASE (default:
# the merge base with main), with the same cache: a cold run costs what the change touches.
tidy-changed: ## clang-tidy over the translation units a change touches (since TIDY_BASE, default: merge base with main)
	$(call need_build,build/dev,build)
	SLUICE_TIDY_JOBS=$(JOBS) bash scripts/tidy.sh --changed $(TIDY_BASE)

charts: ## helm lint + template every chart and values file, schemas, render checks, promtool on the alerts; compose config
	bash scripts/check-charts.sh

test: ## Everything CI runs, fastest tiers first
	@trap 'bash scripts/prebuild.sh stop' EXIT; \
	for tier in $(TEST_TIERS); do \
	  echo "==== tier: $$tier ===="; \
	  $(MAKE) $$tier || { echo "==== tier $$tier FAILED ===="; exit 1; }; \
	done; \
	bash scripts/prebuild.sh wait; \
	echo "==== all tiers passed: $(TEST_TIERS) ===="

prebuild: ## Start the slow first builds (Kubernetes control plane, fuzz build) in the background at nice 19
	bash scripts/prebuild.sh start

up: deps build ## Start the stack and every Sluice service locally (background)
	bash scripts/up.sh

down: ## Stop the Sluice services and the stack
	bash scripts/down.sh

demo: deps build ## Run the demo on a fresh machine; leaves the stack up (make down stops it)
	bash scripts/demo.sh

bench: deps ## Run the benchmarks and write their figures to BENCHMARKS.md
	bash scripts/bench.sh

docker-up: ## Start the project's Docker engine (dockerd, own data root under ~/.cache/sluice)
	@bash scripts/docker.sh up

docker-down: ## Stop the Docker engine scripts/docker.sh started
	@bash scripts/docker.sh down

images: ## Build every image from source (one Dockerfile) and push them to the local registry; prints digests
	bash scripts/images.sh build --from source
	bash scripts/images.sh push

compose-up: ## The whole suite in docker-compose (compose/docker-compose.yml; builds missing images)
	bash scripts/compose.sh up full

compose-down: ## Stop the compose stack and remove its containers, networks and volumes
	bash scripts/compose.sh down

# The engine is stopped afterwards if this tier started it. The images hold build/dev's binaries
# (SLUICE_IMAGES_FROM=source: compiled in the Dockerfile's build stage instead).
SLUICE_IMAGES_FROM ?= build/dev
compose: ## Images (from build/dev's tested binaries) checked, the suite up in docker-compose, canary, rollback, notices, a kill mid-rollout
	$(if $(filter source,$(SLUICE_IMAGES_FROM)),,$(call need_build,$(SLUICE_IMAGES_FROM),build))
	SLUICE_IMAGES_FROM=$(SLUICE_IMAGES_FROM) bash scripts/docker.sh with -- bash test/compose/compose_e2e.sh

# The images from source (the Dockerfile's build stage, as `make images`) and checked, no push:
# .ci/run runs it after `make test` when the BuildKit cache is warm.
images-check: ## Build every image from source (Release build stage) and check them (test/compose/images_test.sh)
	bash scripts/docker.sh with -- bash -c 'bash scripts/images.sh build --from source && bash test/compose/images_test.sh'
