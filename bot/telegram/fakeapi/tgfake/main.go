// Command tgfake runs the fake Telegram Bot API (package fakeapi) as its own
// process, for crash tests that kill and restart sewa while the "Telegram"
// side keeps its state. Point sewa at it with TELEGRAM_API_URL and drive it
// through the control endpoints under /_fake/ (see fakeapi/control.go).
//
//	tgfake -addr 127.0.0.1:8081 -token 123:abc -rate 30 -chat-rate 1
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"sewa/bot/telegram/fakeapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "loopback address to listen on")
	token := flag.String("token", os.Getenv("TELEGRAM_TOKEN"), "the bot token the fake accepts (default $TELEGRAM_TOKEN)")
	rate := flag.Float64("rate", 30, "sends per second overall before 429 (0: no limit)")
	chatRate := flag.Float64("chat-rate", 1, "sends per second per chat before 429 (0: no limit)")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "tgfake: give -token or set TELEGRAM_TOKEN")
		os.Exit(2)
	}
	s := fakeapi.New(nil, *token, fakeapi.WithAddr(*addr), fakeapi.WithLimits(*rate, *chatRate))
	fmt.Println("fake Telegram Bot API on", s.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	st := s.Stats()
	fmt.Printf("sent %d, duplicates %d, rate-limited %d, pending updates %d\n", st.Sent, st.Duplicates, st.RateLimited, st.Pending)
	s.Close()
}
