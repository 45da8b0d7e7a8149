module github.com/wirespeed/wirespeed

go 1.26.0

// Only what the packages of this module import when built: a program that
// imports one of them sees nothing else in its module graph. Test-only
// heavyweights and the heavy clients live in the nested modules listed in
// go.work (docs/architecture.md, "Modules"); scripts/modgraph.sh checks it.
require (
	github.com/andybalholm/brotli v1.3.0
	github.com/coder/websocket v1.8.15
	github.com/klauspost/compress v1.20.4
	// quic-go stays at v0.64.1: webtransport-go v0.13.0 (its newest tag) does not
	// compile against v0.65.0 (HTTPStream returns two values there). Revisit when
	// webtransport-go tags a release for v0.65.
	github.com/quic-go/quic-go v0.64.1
	github.com/quic-go/webtransport-go v0.13.0
	golang.org/x/net v0.62.0
)

require (
	github.com/dunglas/httpsfv v1.1.1 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
