package fakeapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// LoopbackTransport returns an http.Transport that refuses to connect to any
// host that is not a loopback address, so that a test talking to the fake
// can never reach the real Telegram (or anything else) by mistake. The check
// runs on the resolved address, so a name that resolves elsewhere is refused
// too.
func LoopbackTransport() *http.Transport {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("fakeapi: refusing to connect to non-loopback address %s", address)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
}
