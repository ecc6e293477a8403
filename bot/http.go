package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"syscall"
	"time"

	"sewa/store"
)

// WithHTTP serves Handler on addr ("127.0.0.1:8080") while the bot runs.
func WithHTTP(addr string) Option { return func(r *Runtime) { r.httpAddr = addr } }

// webhookChannel is a channel that receives over HTTP (Telegram webhook mode).
type webhookChannel interface {
	// Webhook returns the path to serve and its handler; "" when the
	// channel polls instead.
	Webhook() (path string, h http.Handler)
}

// connectedChannel is a channel that knows whether it is connected.
type connectedChannel interface{ Connected() bool }

// Handler serves /healthz, /readyz, channel webhooks and every area's routes.
func (r *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", r.serveReady)
	mux.Handle("GET /metrics", r.metricsHandler())
	r.moneyRoutes(mux)
	r.webRoutes(mux)
	for _, ch := range r.channels {
		if wc, ok := ch.(webhookChannel); ok {
			if path, h := wc.Webhook(); path != "" {
				mux.Handle("POST "+path, h)
			}
		}
	}
	return mux
}

// serveReady answers 200 only when the database takes writes and every
// channel that can tell says it is connected.
func (r *Runtime) serveReady(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
	defer cancel()
	var problems []string
	if err := r.store.Tx(ctx, func(*store.Tx) error { return nil }); err != nil {
		problems = append(problems, "database: "+err.Error())
	}
	for name, ch := range r.channels {
		if cc, ok := ch.(connectedChannel); ok && !cc.Connected() {
			problems = append(problems, name+": not connected")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// serveHTTP runs the HTTP server until ctx ends. An address it cannot
// listen on (another program has the port) is one log line, and the bot
// goes on without HTTP: the chat must not stop for want of the board.
func (r *Runtime) serveHTTP(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.httpAddr)
	if err != nil {
		why := err.Error()
		if errors.Is(err, syscall.EADDRINUSE) {
			why = "the port is in use by another program"
		}
		r.log.Error("http off: cannot listen on "+r.httpAddr+" ("+why+"); the board, /sms and /metrics are not served. Set SEWA_HTTP to a free address, or SEWA_HTTP=off", "addr", r.httpAddr)
		return nil
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	r.log.Info("http listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}
