package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// RemoteOptions say how to reach a running registry's admin endpoints.
type RemoteOptions struct {
	// Client defaults to http.DefaultClient.
	Client *http.Client
	// Username and Password are sent as Basic auth when Username is set
	// (required when the server uses htpasswd; without it the server
	// accepts only loopback clients).
	Username, Password string
}

// RemoteGC asks the registry at baseURL (e.g. "http://127.0.0.1:5000") to
// run GC with opts.DryRun and opts.Grace, copying its report to opts.Out.
func RemoteGC(ctx context.Context, baseURL string, ro RemoteOptions, opts GCOptions) error {
	q := url.Values{}
	if opts.DryRun {
		q.Set("dry-run", "1")
	}
	if opts.Grace > 0 {
		q.Set("grace", opts.Grace.String())
	}
	if opts.Force {
		q.Set("force", "1")
	}
	return remoteAdmin(ctx, baseURL+"/strata/v1/gc?"+q.Encode(), ro, opts.Out)
}

// RemoteFsck asks the registry at baseURL to run Fsck, copying its report
// to out.
func RemoteFsck(ctx context.Context, baseURL string, ro RemoteOptions, out io.Writer) error {
	return remoteAdmin(ctx, baseURL+"/strata/v1/fsck", ro, out)
}

// remoteAdmin streams an admin report. The server has sent 200 before the
// work starts, so a failure arrives as a last line "error: ...".
func remoteAdmin(ctx context.Context, u string, ro RemoteOptions, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	client := ro.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if ro.Username != "" {
		req.SetBasicAuth(ro.Username, ro.Password)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("registry admin: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return fmt.Errorf("registry admin %s: %s: %s", req.URL.Path, res.Status, strings.TrimSpace(string(b)))
	}
	var last error
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if msg, ok := strings.CutPrefix(line, "error: "); ok {
			last = errors.New(msg)
			continue
		}
		fmt.Fprintln(out, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("registry admin: %w", err)
	}
	return last
}
