package upload

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Options configure a [Handler]. A nil *Options selects every default, but
// [NewHandler] then needs Public set or a PreCreate hook, so pass at least
// one of those.
type Options struct {
	// BasePath is the path the handler is mounted at, with a trailing
	// slash: uploads are created with POST BasePath and live at
	// BasePath<id>. Default "/files/".
	BasePath string
	// MaxSize is the largest upload accepted (Tus-Max-Size): a larger
	// Upload-Length, or a deferred-length upload that grows past it, gets
	// 413. Default 1 GiB; negative means no limit.
	MaxSize int64
	// MaxMetadataSize bounds the Upload-Metadata header in bytes (400 when
	// longer). Default 4096; negative is an error.
	MaxMetadataSize int
	// MaxParts bounds the partial uploads one final upload may concatenate
	// (400 when more). Default 256; negative is an error.
	MaxParts int
	// Expiration is how long an unfinished upload is kept after its
	// creation (Upload-Expires); a complete upload never expires. Default 24h;
	// negative disables expiration.
	Expiration time.Duration
	// SweepInterval is how often expired uploads are removed by the
	// handler's sweeper (the store must implement [Lister]; expired uploads
	// are also refused with 410 when asked for). Default 1 minute; negative
	// disables the sweeper.
	SweepInterval time.Duration
	// IdleTimeout is how long a PATCH body may send nothing before the
	// request is cut, keeping what arrived and releasing the upload's lock
	// (a stalled client never holds an upload hostage). Default 30s;
	// negative disables it (a server ReadTimeout still applies).
	IdleTimeout time.Duration
	// Public accepts uploads from anyone when PreCreate is nil. Default
	// false: NewHandler returns [ErrNoPreCreate] without a PreCreate hook.
	Public bool
	// PreCreate runs before an upload is created, with the request and the
	// upload's declared size (-1 when deferred), metadata and concatenation
	// flags. A non-nil error refuses the creation: a [*HookError] chooses
	// the status, anything else is 403. Default nil (see Public).
	PreCreate func(r *http.Request, info Info) error
	// PostFinish runs once an upload's last byte is committed (or a final
	// upload is concatenated), before the response; the application
	// records the file here. A panic is recovered, counted in
	// Stats.HookPanics and answered with 500. Default nil: nothing runs.
	PostFinish func(r *http.Request, info Info)
	// Download authorizes GET BasePath<id> for a complete upload (the store
	// must implement [Opener]). A non-nil error refuses it as PreCreate's
	// does. Default nil: GET is not served (405).
	Download func(r *http.Request, info Info) error
	// DownloadOptions configure downloads served for Download (the
	// filename comes from the "filename" metadata). Default nil: see
	// [ServeOptions].
	DownloadOptions *ServeOptions
	// CORSOrigins are the origins whose browser scripts may use the
	// handler: their requests get Access-Control-Allow-Origin and the
	// Tus-* / Upload-* headers exposed, and preflights are answered. "*"
	// allows every origin. Default nil: no CORS headers.
	CORSOrigins []string
}

func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
		c.CORSOrigins = append([]string(nil), o.CORSOrigins...)
	}
	if c.BasePath == "" {
		c.BasePath = "/files/"
	}
	if !strings.HasPrefix(c.BasePath, "/") || !strings.HasSuffix(c.BasePath, "/") {
		return c, fmt.Errorf("upload: Options.BasePath %q must start and end with a slash", c.BasePath)
	}
	if c.MaxSize == 0 {
		c.MaxSize = 1 << 30
	}
	switch {
	case c.MaxMetadataSize < 0:
		return c, fmt.Errorf("upload: Options.MaxMetadataSize is negative (%d)", c.MaxMetadataSize)
	case c.MaxMetadataSize == 0:
		c.MaxMetadataSize = 4096
	}
	switch {
	case c.MaxParts < 0:
		return c, fmt.Errorf("upload: Options.MaxParts is negative (%d)", c.MaxParts)
	case c.MaxParts == 0:
		c.MaxParts = 256
	}
	if c.Expiration == 0 {
		c.Expiration = 24 * time.Hour
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.PreCreate == nil && !c.Public {
		return c, ErrNoPreCreate
	}
	if c.DownloadOptions != nil {
		if _, err := c.DownloadOptions.withDefaults(); err != nil {
			return c, err
		}
	}
	return c, nil
}
