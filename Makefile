# wirespeed — every check CI runs is `make test`.
#
#   make test      install what the tests need, then gofmt, vet, staticcheck
#                  and go test -race in every module of go.work, and check
#                  that each go.mod is tidy
#   make bench     benchmarks of the library and side by side with the peers
#   make fuzz      every fuzz target for FUZZTIME each
#   make claims    the chapter's claims measured on the emulated WAN: rewrites
#                  bench/CLAIMS.md and its SVGs (as root; about 7 minutes)
#   make showcase  go run ./examples/showcase

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
# The modules of go.work (docs/architecture.md, "Modules").
MODULES     := . examples grpcx pubsub/redis upload/s3 internal/integration bench

.PHONY: test deps fmt tidy vet staticcheck gotest bench claims fuzz showcase

test: deps fmt tidy vet staticcheck gotest

# Installs missing programs and Node packages (scripts/deps.sh says which).
deps:
	bash scripts/deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Each module must build on its own (GOWORK=off), as users build it, with
# go.mod and go.sum exactly as go mod tidy leaves them.
tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff) || { echo "go.mod or go.sum of $$m is not tidy: run go mod tidy there"; exit 1; }; done

vet:
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done

staticcheck:
	@for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(GO) run $(STATICCHECK) ./...) || exit 1; done

# WIRESPEED_INTEGRATION=require turns a skip for a missing program into a
# failure, so a green run means the integration tests ran.
gotest:
	@for m in $(MODULES); do echo "go test -race ($$m)"; \
	  (cd $$m && WIRESPEED_INTEGRATION=require PATH="$(CURDIR)/.deps/node/node_modules/.bin:$$PATH" \
	    $(GO) test -race -count=1 -timeout 15m ./...) || exit 1; done

bench:
	@for m in $(filter-out bench,$(MODULES)); do (cd $$m && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...) || exit 1; done
	cd bench && $(GO) test -run '^$$' -bench . -skip '^BenchmarkWan' -benchtime $(BENCHTIME) ./...

# The WAN scenarios (bench/wanem) are minutes long, so they are not in bench
# or test; make test runs the emulator's own tests and a smoke scenario.
claims:
	cd bench && $(GO) run ./cmd/claims

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

showcase:
	$(GO) run ./examples/showcase
