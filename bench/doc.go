// Package bench holds side-by-side benchmarks of wirespeed against peer
// libraries. It is its own module so the peers never enter the library's
// go.mod. See README.md for how to run it and the latest ratios.
package bench
