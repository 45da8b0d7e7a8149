package wt

import (
	_ "embed"
	"net/http"
)

//go:embed wt.js
var script []byte

// Script serves wt.js, the browser module (an ES module; see the package
// doc), with a JavaScript content type. Mount it anywhere, such as
// mux.Handle("GET /wt.js", wt.Script).
var Script http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(script)
})
