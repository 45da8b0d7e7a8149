module github.com/wirespeed/wirespeed/grpcx

go 1.26.0

require (
	github.com/wirespeed/wirespeed v0.1.0
	golang.org/x/net v0.62.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/quic-go/qpack v0.6.0 // indirect
	github.com/quic-go/quic-go v0.64.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

// Builds against this checkout. Programs that use this module ignore these
// replace lines and get the modules at the versions required above, which
// are tagged together with this one (docs/architecture.md, "Modules").
replace github.com/wirespeed/wirespeed => ..
