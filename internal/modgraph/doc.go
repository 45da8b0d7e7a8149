// Package modgraph holds a test of the module layout: a program that
// imports one wirespeed package must find in its module graph only what
// that package needs, and nothing from the repository's test-only or
// heavy dependencies (Chromium drivers, database drivers, Redis, gRPC,
// S3), which live in nested modules.
package modgraph
