module github.com/wirespeed/wirespeed/pubsub/redis

go 1.26.0

require (
	github.com/redis/go-redis/v9 v9.23.0
	github.com/wirespeed/wirespeed v0.1.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// Builds against this checkout. Programs that use this module ignore these
// replace lines and get the modules at the versions required above, which
// are tagged together with this one (docs/architecture.md, "Modules").
replace github.com/wirespeed/wirespeed => ../..
