package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/strata-project/strata/internal/content"
)

// Serve runs a registry on opts.Addr (HTTPS when opts.TLSCert and
// opts.TLSKey are set) until ctx ends, then shuts down gracefully:
// in-flight requests finish (for up to 30 s), then the index closes.
// Meanwhile it cleans stale uploads every minute and, with
// opts.GCInterval, collects garbage on that schedule.
func Serve(ctx context.Context, store *content.Store, root string, opts Options) error {
	opts.setDefaults()
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return fmt.Errorf("serve registry: TLS needs both a certificate and a key")
	}
	g, err := New(store, root, opts)
	if err != nil {
		return err
	}
	defer g.Close()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("serve registry: %w", err)
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve registry: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	bgCtx, stopBG := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() { // ends when ctx ends or Serve returns
		defer close(bgDone)
		g.background(bgCtx)
	}()
	serveErr := make(chan error, 1)
	go func() { // ends at Shutdown or a listener failure
		if srv.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
		if e := <-serveErr; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
	}
	stopBG()
	<-bgDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serve registry: %w", err)
	}
	return nil
}

// background runs upload cleaning and scheduled GC until ctx ends. Errors
// are dropped: the next round tries again, and fsck reports lasting ones.
func (g *Registry) background(ctx context.Context) {
	clean := time.NewTicker(time.Minute)
	defer clean.Stop()
	var gcTick <-chan time.Time
	if g.opts.GCInterval > 0 {
		t := time.NewTicker(g.opts.GCInterval)
		defer t.Stop()
		gcTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-clean.C:
			_ = g.Cleanup(ctx)
		case <-gcTick:
			_, _ = g.GC(ctx, GCOptions{})
		}
	}
}
