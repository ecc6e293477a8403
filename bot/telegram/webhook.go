package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
)

// SecretHeader is the header in which Telegram sends the webhook's
// secret_token.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// maxUpdate bounds the body of one webhook request.
const maxUpdate = 1 << 20

// receiveWebhook registers the webhook and serves (through Handler) until
// ctx ends. The webhook stays set when it returns: Telegram keeps the updates
// until a process serves it again, and other processes behind the same URL
// may still be serving.
func (a *Adapter) receiveWebhook(ctx context.Context, in bot.Inbox) error {
	ref := &inboxRef{in: in}
	a.inbox.Store(ref)
	defer a.inbox.CompareAndSwap(ref, nil)
	allowed, _ := json.Marshal(allowedUpdates)
	params := tgbotapi.Params{"url": a.hookURL, "secret_token": a.hookSecret, "allowed_updates": string(allowed)}
	bo := a.backoff()
	for {
		err := a.raw(ctx, "setWebhook", params)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnauthorized) {
			return err
		}
		wait := bo.next(err)
		a.log.Warn("telegram: setWebhook failed; retrying", "err", err, "retry_in", wait.Round(time.Millisecond).String())
		if !sleep(ctx, wait) {
			return nil
		}
	}
	a.log.Info("telegram webhook set", "url", a.hookURL)
	<-ctx.Done()
	return nil
}

// Handler serves the webhook while Receive runs (503 otherwise, so that
// Telegram retries). It checks the secret token before reading anything
// (401 when wrong or missing), decodes one update, and answers 200 only once
// the inbox accepted it (500 otherwise, so that Telegram delivers it again;
// the update_id makes the replay harmless). The photos of an album arrive as
// separate requests and become separate messages.
func (a *Adapter) Handler() http.Handler { return http.HandlerFunc(a.serveWebhook) }

func (a *Adapter) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	got := r.Header.Get(SecretHeader)
	if a.hookSecret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.hookSecret)) != 1 {
		a.log.Warn("telegram webhook: wrong or missing secret token", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	ref := a.inbox.Load()
	if ref == nil {
		http.Error(w, "not receiving", http.StatusServiceUnavailable)
		return
	}
	var u tgbotapi.Update
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUpdate)).Decode(&u); err != nil {
		a.log.Warn("telegram webhook: unreadable update", "err", err)
		http.Error(w, "bad update", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	msgs, after, err := a.convert(ctx, []tgbotapi.Update{u}, false)
	if err != nil {
		a.log.Warn("telegram webhook: cannot fetch a photo; Telegram will retry", "update_id", u.UpdateID, "err", err)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	if len(msgs) > 0 {
		if err := ref.in.Accept(ctx, msgs, nil); err != nil {
			a.log.Warn("telegram webhook: the inbox refused an update; Telegram will retry", "update_id", u.UpdateID, "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	if f, canFlush := w.(http.Flusher); canFlush {
		f.Flush()
	}
	if len(after) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		a.followUp(ctx, after)
	}
}

// Webhook returns the path of the configured webhook URL and its handler
// for the runtime's HTTP server, or "" when the adapter polls.
func (a *Adapter) Webhook() (string, http.Handler) {
	if a.hookURL == "" {
		return "", nil
	}
	u, err := url.Parse(a.hookURL)
	if err != nil || u.Path == "" {
		return "/", a.Handler()
	}
	return u.Path, a.Handler()
}
