package telegram

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
)

func TestBackoffIsCappedAndHonoursRetryAfter(t *testing.T) {
	b := &backoff{first: 100 * time.Millisecond, longest: time.Second}
	var prevCap time.Duration
	for i := range 10 {
		d := b.next(nil)
		if b.cur < prevCap || b.cur > time.Second {
			t.Fatalf("step %d: cap went to %v", i, b.cur)
		}
		if d < b.cur/2 || d > b.cur {
			t.Errorf("step %d: %v outside [%v, %v]", i, d, b.cur/2, b.cur)
		}
		prevCap = b.cur
	}
	if b.cur != time.Second {
		t.Errorf("never reached the cap: %v", b.cur)
	}
	rl := fmt.Errorf("getUpdates: %w", &bot.ErrRateLimited{RetryAfter: 7 * time.Second})
	if d := b.next(rl); d != 7*time.Second {
		t.Errorf("429: waited %v, want retry_after", d)
	}
	b.reset()
	if d := b.next(nil); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestWithAnswer(t *testing.T) {
	cases := []struct {
		text, label string
		limit       int
		want        string
	}{
		{"Approve R-12?", "Yes", 4096, "Approve R-12?\n✓ Yes"},
		{"", "Yes", 4096, "✓ Yes"},
		{"abcdefghij", "OK", 10, "abcd…\n✓ OK"}, // 10 runes in all
	}
	for _, c := range cases {
		if got := withAnswer(c.text, c.label, c.limit); got != c.want {
			t.Errorf("withAnswer(%q, %q) = %q, want %q", c.text, c.label, got, c.want)
		}
	}
}

func TestMapErrorEdges(t *testing.T) {
	a := &Adapter{token: "1:tok"}
	cases := []struct {
		name   string
		method string
		status int
		err    error
		check  func(error) bool
	}{
		{"getMe 404 is a malformed token", "getMe", 404, &tgbotapi.Error{Code: 404, Message: "Not Found"},
			func(err error) bool { return errors.Is(err, ErrUnauthorized) }},
		{"sendMessage 404 is not", "sendMessage", 404, &tgbotapi.Error{Code: 404, Message: "Not Found"},
			func(err error) bool { return !errors.Is(err, ErrUnauthorized) && !errors.Is(err, bot.ErrTransient) }},
		{"upload error without code uses the HTTP status", "sendPhoto", 502, &tgbotapi.Error{Message: "Bad Gateway"},
			func(err error) bool { return errors.Is(err, bot.ErrTransient) }},
		{"429 without retry_after waits a second", "sendMessage", 429, &tgbotapi.Error{Code: 429, Message: "Too Many Requests"},
			func(err error) bool {
				var rl *bot.ErrRateLimited
				return errors.As(err, &rl) && rl.RetryAfter == time.Second
			}},
		{"an unreadable 200 is not retried (it may have been sent)", "sendMessage", 200, errors.New("unexpected EOF"),
			func(err error) bool { return !errors.Is(err, bot.ErrTransient) }},
		{"a missing local file is permanent", "sendPhoto", 0, fmt.Errorf("open x: %w", fs.ErrNotExist),
			func(err error) bool { return !errors.Is(err, bot.ErrTransient) }},
		{"a cancelled call is transient", "sendMessage", 0, context.Canceled,
			func(err error) bool { return errors.Is(err, bot.ErrTransient) && errors.Is(err, context.Canceled) }},
		{"a token in any error is redacted", "sendMessage", 0, errors.New("dial http://x/bot1:tok/sendMessage"),
			func(err error) bool { return !strings.Contains(err.Error(), "1:tok") }},
	}
	for _, c := range cases {
		if err := a.mapError(c.method, c.status, c.err); err == nil || !c.check(err) {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
}

func TestStripMention(t *testing.T) {
	a := &Adapter{self: tgbotapi.User{UserName: "sewa_bot"}}
	for in, want := range map[string]string{
		"/start@sewa_bot":         "/start",
		"/start@Sewa_Bot R-12":    "/start R-12",
		"/next@other_bot":         "/next@other_bot",
		"/tasks\nmore":            "/tasks\nmore",
		"mail me at a@sewa_bot x": "mail me at a@sewa_bot x",
	} {
		if got := a.stripMention(in); got != want {
			t.Errorf("stripMention(%q) = %q, want %q", in, got, want)
		}
	}
}
