# k8swift build entry points. Every target installs what it needs (idempotently) first.
SHELL := /bin/bash
SWIFT ?= swift
BIN_DIR := _output/bin
WHAT ?= k8swift
# Optional yardstick beside the checkout (make bench runs it when it is there).
APILOAD ?= ../shared/tools/apiload.py
CTRLLOAD ?= ../shared/tools/ctrlload.py
SCHEDLOAD ?= ../shared/tools/schedload.py
# The hollow-node benchmark's scale (upstream's largest supported cluster).
NODES ?= 5000
PODS ?= 150000
FORMAT_FILES = $(shell git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Benchmarks/*.swift' | grep -v '/Generated/')

BUILDINFO := Sources/CBuildInfo/buildinfo.generated.h
# Where `make run` keeps its cluster (k8swift server's default as root); its node imports the
# images found in agent/images at start.
RUN_DATA_DIR ?= /var/lib/k8swift

.PHONY: all test test-long run verify bench clean deps generate format release buildinfo

## all: build the k8swift binary (release, as make release links it) into _output/bin (WHAT=<product>
## builds another product)
all: deps buildinfo
	hack/release.sh --build $(WHAT)
	mkdir -p $(BIN_DIR)
	cp "$$($(SWIFT) build -c release --show-bin-path)/$(WHAT)" $(BIN_DIR)/$(WHAT)
	@echo "built $(BIN_DIR)/$(WHAT)"

## deps: install system and Python packages the build and tests use (idempotent)
deps:
	@hack/install-deps.sh libsqlite3-dev zlib1g-dev etcd-server etcd-client containerd runc containernetworking-plugins iproute2 umoci skopeo docker-registry busybox-static gcc libc6-dev openssl curl nftables conntrack dnsutils
	@hack/install-python-deps.sh kubernetes kopf

## buildinfo: stamp this build with its git facts (k8swift version, /version)
buildinfo:
	@hack/version.sh --header $(BUILDINFO)

## run: build and start `k8swift server` in the foreground (ARGS="--secure-port 7443" to pass flags); as
## root its node runs pods, with the project's pause and busybox images imported
run: deps buildinfo
	$(SWIFT) build --product k8swift
	@if [ "$$(id -u)" = 0 ]; then \
		eval "$$(hack/node-images.sh)" && mkdir -p $(RUN_DATA_DIR)/agent/images && \
		cp "$$PAUSE_TAR" "$$BUSYBOX_TAR" $(RUN_DATA_DIR)/agent/images/ && \
		echo "node images: $$PAUSE_IMAGE, $$BUSYBOX_IMAGE (try: kubectl run web --image=$$BUSYBOX_IMAGE -- httpd -f)"; fi
	"$$($(SWIFT) build --show-bin-path)/k8swift" server $(ARGS)

## test: run every test: the unit suites first, in a process of their own (end-to-end suites block
## test threads while they wait on processes, which stalls timed unit tests beside them), then the
## end-to-end suites (the k8swift binary driven with kubectl and Python; the release suite unpacks
## the artifacts of hack/release.sh, packed from a debug build here: it checks the packing, and an
## optimised build of the whole tree would cost CI about 20 minutes), then those again with the server on etcd (all but
## the node suites, which test the kubelet and containerd rather than the store, and the release suite)
NODE_SUITES := --skip NodeE2ETests --skip HollowNodesE2ETests
test: deps buildinfo
	$(SWIFT) build --build-tests
	$(SWIFT) build --product k8swift
	CONFIG=debug hack/release.sh
	$(SWIFT) test --skip-build --parallel --skip E2ETests
	$(SWIFT) test --skip-build --parallel --filter E2ETests
	K8SWIFT_E2E_STORE=etcd $(SWIFT) test --skip-build --parallel --filter E2ETests --skip EtcdE2ETests --skip ReleaseTests $(NODE_SUITES)

## test-long: the same with 100,000 bad-input mutations and 20 kill -9 rounds
test-long: deps buildinfo
	$(SWIFT) build --build-tests
	$(SWIFT) build --product k8swift
	CONFIG=debug hack/release.sh
	$(SWIFT) test --skip-build --parallel --skip E2ETests
	K8SWIFT_FUZZ_COUNT=100000 K8SWIFT_KILL_ROUNDS=20 $(SWIFT) test --skip-build --parallel --filter E2ETests
	K8SWIFT_E2E_STORE=etcd K8SWIFT_KILL_ROUNDS=20 $(SWIFT) test --skip-build --parallel --filter E2ETests --skip EtcdE2ETests --skip ReleaseTests $(NODE_SUITES)

## generate: regenerate the API types from the committed API facts (api/), Go facts and gate tables
generate:
	$(SWIFT) build --product k8swift-codegen
	"$$($(SWIFT) build --show-bin-path)/k8swift-codegen" --spec api

## verify: format lint, generated-code drift, module import rules
verify: deps generate
	$(SWIFT) format lint --strict --configuration .swift-format $(FORMAT_FILES)
	@if [ -n "$$(git status --porcelain -- Sources)" ]; then \
		echo "generated code differs from the committed code (run 'make generate' and commit):"; \
		git status --porcelain -- Sources | head -50; exit 1; fi
	hack/verify-imports.sh

## format: apply swift format to hand-written sources
format:
	$(SWIFT) format format -i --configuration .swift-format $(FORMAT_FILES)

## bench: benchmarks of the release build (as make release links it), printed as JSON: codecs, the
## etcd client, then the API server under apiload (when beside the checkout) and a curl driver, on
## SQLite, then on etcd, the controllers, the scheduler, the real node (as root) and hollow nodes
bench: deps buildinfo
	hack/release.sh --build k8swift-bench k8swift k8swift-etcd-bench
	"$$($(SWIFT) build -c release --show-bin-path)/k8swift-bench" --fixtures testdata/upstream/fixtures/HEAD
	"$$($(SWIFT) build -c release --show-bin-path)/k8swift-etcd-bench"
	python3 hack/bench_api.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift" --apiload $(APILOAD)
	python3 hack/bench_api.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift" --apiload $(APILOAD) --etcd
	python3 hack/bench_controllers.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift" --ctrlload $(CTRLLOAD)
	python3 hack/bench_scheduler.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift" --schedload $(SCHEDLOAD)
	flock /tmp/k8swift-node-e2e.lock python3 hack/bench_node.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift"
	python3 hack/bench_nodes.py "$$($(SWIFT) build -c release --show-bin-path)/k8swift" --nodes $(NODES) --pods $(PODS)

## release: the static k8swift, its tarball and OCI image archive, with sha256sums, in _output/release
release: deps
	hack/release.sh

clean:
	rm -rf .build _output $(BUILDINFO)
