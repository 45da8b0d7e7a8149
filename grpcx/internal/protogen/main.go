// Command protogen regenerates grpcx/catalogpb from catalog.proto. It runs
// protoc (Debian's protobuf-compiler) with protoc-gen-go and
// protoc-gen-go-grpc at the versions pinned below, each started through
// `go run module/cmd@version`, so a checkout needs protoc and Go and nothing
// installed by hand.
//
//	go run ./grpcx/internal/protogen -out grpcx/catalogpb
//
// go generate in grpcx/catalogpb runs it; the catalogpb tests run it into a
// temporary directory and compare the output with the checked-in files.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// The pinned plugins. Change a version here and run go generate.
const (
	ProtocGenGo     = "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
	ProtocGenGoGRPC = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)

func main() {
	out := flag.String("out", ".", "directory to write catalog.pb.go and catalog_grpc.pb.go into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return fmt.Errorf("cannot locate the source directory")
	}
	src := filepath.Join(filepath.Dir(self), "..", "..", "catalogpb")
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		return fmt.Errorf("protoc not found in PATH: install Debian's protobuf-compiler (scripts/deps.sh does)")
	}
	tmp, err := os.MkdirTemp("", "protogen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// protoc runs plugins by path; each wrapper execs go run at the pinned
	// version, which builds the plugin once into Go's cache.
	plugins := map[string]string{"protoc-gen-go": ProtocGenGo, "protoc-gen-go-grpc": ProtocGenGoGRPC}
	args := []string{"--proto_path=" + src}
	for name, mod := range plugins {
		path := filepath.Join(tmp, name)
		script := "#!/bin/sh\nexec go run " + mod + "\n"
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			return err
		}
		args = append(args, "--plugin="+name+"="+path)
	}
	args = append(args,
		"--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative",
		"catalog.proto")
	cmd := exec.Command(protoc, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("protoc %v: %w", args, err)
	}
	return nil
}
