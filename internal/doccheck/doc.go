// Package doccheck holds only a test: it checks that every "# Quick start"
// block in the module's package documentation is the body (in order, with
// setup lines between allowed) of a compiled Example function, so the
// snippets users paste cannot drift from the API.
package doccheck
