// Package catalogpb is a demo gRPC service, generated from catalog.proto,
// that grpcx's tests, examples and benchmarks use: a catalog with one
// method of each kind (unary Get, server-streaming List, client-streaming
// Upload, bidirectional Chat), and [Demo], an in-memory implementation.
// It is public so that programs outside this module (the examples) can
// import it; it is not part of grpcx's API and may change.
//
// The generated files are checked in. go generate reproduces them with
// Debian's protoc (protobuf-compiler) and the plugins protoc-gen-go and
// protoc-gen-go-grpc at versions pinned in grpcx/internal/protogen, run
// with go run so that nothing is installed.
package catalogpb

//go:generate go run ../internal/protogen -out .
