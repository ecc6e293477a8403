package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
)

// hookProxy stands for what is between Telegram and several sewa processes
// in webhook mode: Telegram's delivery, which keeps many connections open
// to the webhook at once (max_connections, 40 by default) while each chat's
// updates go one after another, and an HTTPS load balancer that spreads the
// requests round-robin over the processes and skips a dead one.
//
// The fake Bot API posts every update to the proxy's https URL, one at a
// time (fakeapi delivers serially); the proxy takes it at once and from
// then on is the one that must deliver it: it posts it to the next process
// until one answers 2xx, trying the next process whenever one refuses the
// connection, answers 5xx or drops the request midway (a process killed
// while handling it: the update may or may not have been committed, as
// with Telegram, which then delivers it again). Every dupEvery-th update
// is also posted to two processes at the same moment, as Telegram does when
// it retries an update whose first delivery is slow: the inbound id must
// make the second one harmless.
type hookProxy struct {
	srv      *httptest.Server
	backends []string // host:port of each process's SEWA_HTTP
	path     string
	client   *http.Client
	dupEvery int

	mu       sync.Mutex
	next     int // round-robin position
	seq      int // updates taken
	chats    map[int64]*proxyChat
	pins     map[string]int // message text → the backend it goes to first
	armed    map[int]func() // backend → run with the next request to it
	inflight []int          // requests being answered, per backend
	answered []int          // 2xx answers, per backend
	stats    proxyStats
	busy     int // chats with updates queued or in flight
	stopped  bool
}

type proxyChat struct {
	queue   []proxyUpdate
	running bool
}

type proxyUpdate struct {
	id   int64
	seq  int
	body []byte
	hdr  string // the secret token header
	pin  int    // the backend to try first, or -1
}

// proxyStats counts what the proxy did.
type proxyStats struct {
	Updates     int // updates taken from the fake
	Posts       int // requests made to processes
	Doubled     int // updates posted to two processes at once on purpose
	Refused     int // connection refused (the process was down)
	Unanswered  int // request sent, no answer (the process died with it)
	NotOK       int // answered, but not 2xx (503 while not receiving, 500)
	Redelivered int // updates posted again after a post that may have reached a process
}

// newHookProxy starts the proxy on an https loopback URL and makes this
// test process trust its certificate (SSL_CERT_FILE), so the fake Bot API's
// HTTP client, which verifies certificates against the system pool, can
// post to it. That pool is read once per process, on the first certificate
// check: the proxy fails the test with a clear message when something in
// this test binary checked one before.
func newHookProxy(t *testing.T, path string, backends []string) *hookProxy {
	t.Helper()
	p := &hookProxy{
		backends: backends, path: path, dupEvery: 5,
		client:   &http.Client{Transport: fakeapi.LoopbackTransport(), Timeout: 20 * time.Second},
		chats:    map[int64]*proxyChat{},
		pins:     map[string]int{},
		armed:    map[int]func(){},
		inflight: make([]int, len(backends)),
		answered: make([]int, len(backends)),
	}
	p.srv = httptest.NewUnstartedServer(p)
	p.srv.StartTLS()
	t.Cleanup(p.close)
	certFile := filepath.Join(t.TempDir(), "proxy-cert.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", certFile)
	check := &http.Client{Transport: fakeapi.LoopbackTransport(), Timeout: 5 * time.Second}
	res, err := check.Get(p.srv.URL + "/ping")
	if err != nil {
		t.Fatalf("the fake Bot API could not reach the webhook proxy over https: %v\n"+
			"(the system certificate pool was read before this test set SSL_CERT_FILE; run this test on its own with -run)", err)
	}
	res.Body.Close()
	return p
}

// URL is the webhook URL to register: https://127.0.0.1:port/path.
func (p *hookProxy) URL() string { return p.srv.URL + p.path }

func (p *hookProxy) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.srv.Close()
}

// ServeHTTP takes an update from the fake (POST path) and queues it for
// its chat; GET /ping answers the certificate check.
func (p *hookProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/ping" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != p.path {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var u struct {
		UpdateID int64 `json:"update_id"`
		Message  *struct {
			Chat struct{ ID int64 } `json:"chat"`
			Text string             `json:"text"`
		} `json:"message"`
		CallbackQuery *struct {
			From struct{ ID int64 } `json:"from"`
		} `json:"callback_query"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var chat int64
	var text string
	switch {
	case u.Message != nil:
		chat, text = u.Message.Chat.ID, u.Message.Text
	case u.CallbackQuery != nil:
		chat = u.CallbackQuery.From.ID
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pin, pinned := p.pins[text]
	if !pinned {
		pin = -1
	}
	p.seq++
	p.stats.Updates++
	c := p.chats[chat]
	if c == nil {
		c = &proxyChat{}
		p.chats[chat] = c
	}
	c.queue = append(c.queue, proxyUpdate{id: u.UpdateID, seq: p.seq, body: body, hdr: r.Header.Get(telegram.SecretHeader), pin: pin})
	if !c.running {
		c.running = true
		p.busy++
		go p.drainChat(c)
	}
	w.WriteHeader(http.StatusOK)
}

// drainChat delivers a chat's updates in order, each once some process
// took it.
func (p *hookProxy) drainChat(c *proxyChat) {
	for {
		p.mu.Lock()
		if len(c.queue) == 0 || p.stopped {
			c.running = false
			p.busy--
			p.mu.Unlock()
			return
		}
		u := c.queue[0]
		c.queue = c.queue[1:]
		copies := 1
		if p.dupEvery > 0 && u.seq%p.dupEvery == 0 {
			copies = 2
			p.stats.Doubled++
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for range copies {
			wg.Go(func() { p.deliver(u) })
		}
		wg.Wait()
	}
}

// deliver posts u to the processes in turn until one answers 2xx.
func (p *hookProxy) deliver(u proxyUpdate) {
	backoff := 10 * time.Millisecond
	mayHaveReached := false
	for tries := 0; ; tries++ {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		if mayHaveReached {
			p.stats.Redelivered++
			mayHaveReached = false
		}
		b := p.next % len(p.backends)
		if tries == 0 && u.pin >= 0 {
			b = u.pin
		} else {
			p.next++
		}
		p.inflight[b]++
		p.stats.Posts++
		if f := p.armed[b]; f != nil {
			delete(p.armed, b)
			go f()
		}
		p.mu.Unlock()

		status, err := p.post(p.backends[b], u)

		p.mu.Lock()
		p.inflight[b]--
		switch {
		case err == nil && status/100 == 2:
			p.answered[b]++
			p.mu.Unlock()
			return
		case errors.Is(err, syscall.ECONNREFUSED):
			p.stats.Refused++
		case err != nil:
			p.stats.Unanswered++
			mayHaveReached = true
		default:
			p.stats.NotOK++
			mayHaveReached = status != http.StatusServiceUnavailable
		}
		p.mu.Unlock()
		if tries%len(p.backends) == len(p.backends)-1 {
			// Every process refused it this round: wait a little.
			time.Sleep(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

func (p *hookProxy) post(backend string, u proxyUpdate) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+backend+p.path, bytes.NewReader(u.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(telegram.SecretHeader, u.hdr)
	res, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// Pin makes the update whose text is text go first to backend b: the
// test's choice of the load balancer's for that one request.
func (p *hookProxy) Pin(text string, b int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pins[text] = b % len(p.backends)
}

// Arm runs f (in its own goroutine) as the next request to backend b is
// made.
func (p *hookProxy) Arm(b int, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed[b] = f
}

// Inflight is how many requests backend b is answering now.
func (p *hookProxy) Inflight(b int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight[b]
}

// Idle reports whether every update taken was delivered.
func (p *hookProxy) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy == 0
}

// Stats returns the counts so far, and the 2xx answers of each backend.
func (p *hookProxy) Stats() (proxyStats, []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats, append([]int(nil), p.answered...)
}
