module github.com/wirespeed/wirespeed/bench

go 1.26.0

require (
	github.com/CAFxX/httpcompression v0.0.8
	github.com/andybalholm/brotli v1.3.0
	github.com/graph-gophers/dataloader/v7 v7.1.0
	github.com/jackc/pgx/v5 v5.12.0
	github.com/jackc/puddle/v2 v2.2.3
	github.com/klauspost/compress v1.20.4
	// quic-go stays at v0.64.1: webtransport-go v0.13.0 (its newest tag) does not
	// compile against v0.65.0 (HTTPStream returns two values there). Revisit when
	// webtransport-go tags a release for v0.65.
	github.com/quic-go/quic-go v0.64.1
	github.com/vikstrous/dataloadgen v0.0.10
	github.com/wirespeed/wirespeed v0.1.0
	github.com/wirespeed/wirespeed/grpcx v0.1.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sync v0.25.0
	modernc.org/sqlite v1.62.0
)

require (
	github.com/grpc-ecosystem/go-grpc-middleware/v2 v2.3.4
	github.com/quic-go/webtransport-go v0.13.0
	github.com/tmaxmax/go-sse v0.12.0
	github.com/tus/tusd/v2 v2.9.1
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/exp v0.0.0-20250620022241-b7579e27df2b
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dunglas/httpsfv v1.1.1 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

require (
	github.com/coder/websocket v1.8.15
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gorilla/websocket v1.5.3
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.opentelemetry.io/otel v1.45.0 // indirect
	go.opentelemetry.io/otel/trace v1.45.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0
	golang.org/x/text v0.43.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

replace github.com/wirespeed/wirespeed => ../

replace github.com/wirespeed/wirespeed/grpcx => ../grpcx
