package ws

// Parsers of untrusted input, for the fuzz tests.
var (
	ParseClientControl = parseClientControl
	ParseServerControl = parseControl
)
