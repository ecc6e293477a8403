// Package telegram is Sewa's Telegram channel: it long-polls (or serves a
// webhook for) the Bot API, turns updates into bot.Messages for the runtime's
// Inbox, and renders bot.Outgoing messages as Bot API calls. It decides
// nothing; what a message means is the runtime's business.
//
// The offset is never kept in memory only: Receive reads it from the store
// (Cursors), hands every batch to Inbox.Accept together with the next offset,
// and moves on only once Accept committed both.
package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
)

// ChannelName is the adapter's Name() and the name of its cursor.
const ChannelName = "tg"

// ErrUnauthorized says the Bot API refused the token: it is wrong or was
// revoked. It is not worth retrying until someone fixes the configuration.
var ErrUnauthorized = errors.New("telegram refused the bot token (401 Unauthorized): check TELEGRAM_TOKEN")

// Cursors reads a channel's stored position; the store implements it. A
// cursor that was never stored reads as 0.
type Cursors interface {
	Cursor(ctx context.Context, name string) (int64, error)
}

// Option configures an Adapter.
type Option func(*config)

type config struct {
	apiURL      string
	client      *http.Client
	dataDir     string
	log         *slog.Logger
	cursors     Cursors
	hookURL     string
	hookSecret  string
	pollTimeout time.Duration
	albumWait   time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	now         func() time.Time
}

// WithAPIURL sets the Bot API base URL (default https://api.telegram.org),
// for a self-hosted Bot API server or a fake. Methods are called at
// {base}/bot{token}/{method}, files downloaded from {base}/file/bot{token}/{path}.
func WithAPIURL(base string) Option { return func(c *config) { c.apiURL = base } }

// WithHTTPClient sets the HTTP client. Its Timeout, if any, must exceed the
// poll timeout; the adapter bounds each call with a context of its own.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.client = hc } }

// WithDataDir sets the directory under which received photos are saved, in
// {dir}/photos/ (default: the working directory).
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithCursors sets where Receive reads the stored getUpdates offset (cursor
// "tg"). Without it, polling starts from the oldest unconfirmed update.
func WithCursors(cs Cursors) Option { return func(c *config) { c.cursors = cs } }

// WithWebhook makes Receive register url as the webhook (with secret as
// secret_token) instead of polling; serve Handler() at url. An empty secret
// is replaced by a random one.
func WithWebhook(url, secret string) Option {
	return func(c *config) { c.hookURL, c.hookSecret = url, secret }
}

// WithPollTimeout sets the long-poll timeout of getUpdates (default 25s).
func WithPollTimeout(d time.Duration) Option { return func(c *config) { c.pollTimeout = d } }

// WithAlbumWait sets how long Receive waits for the rest of an album when a
// batch ends in the middle of one (default 1.5s).
func WithAlbumWait(d time.Duration) Option { return func(c *config) { c.albumWait = d } }

// WithBackoff sets the first and the longest pause after a failed getUpdates
// or Accept (default 500ms and 30s); pauses double up to the cap, with
// jitter. A 429's retry_after overrides it.
func WithBackoff(first, longest time.Duration) Option {
	return func(c *config) { c.backoffMin, c.backoffMax = first, longest }
}

// WithClock sets the clock that stamps button presses (which carry no date).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Adapter is the Telegram channel. Send is safe for concurrent use; run one
// Receive at a time.
type Adapter struct {
	config
	token    string
	fileBase string // {base}/file/bot{token}
	api      *tgbotapi.BotAPI
	self     tgbotapi.User

	inbox atomic.Pointer[inboxRef] // set while Receive runs in webhook mode

	mu    sync.Mutex
	parts map[int64]progress // outbox id → parts of a split message already delivered
}

type inboxRef struct{ in bot.Inbox }

type progress struct {
	done int // calls delivered
	last int // message_id of the last one
}

// New connects to the Bot API: it checks the token with getMe (a refused
// token gives an error that errors.Is ErrUnauthorized) and sets the command
// menus in English and Hindi.
func New(ctx context.Context, token string, opts ...Option) (*Adapter, error) {
	cfg := config{
		apiURL:      "https://api.telegram.org",
		dataDir:     ".",
		pollTimeout: 25 * time.Second,
		albumWait:   1500 * time.Millisecond,
		backoffMin:  500 * time.Millisecond,
		backoffMax:  30 * time.Second,
		now:         time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.client == nil {
		cfg.client = &http.Client{}
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.log = cfg.log.With("channel", ChannelName)
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, fmt.Errorf("telegram: no bot token: %w", ErrUnauthorized)
	}
	base := strings.TrimRight(cfg.apiURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: bad API URL %q: want http(s)://host", cfg.apiURL)
	}
	if cfg.hookURL != "" {
		if u, err := url.Parse(cfg.hookURL); err != nil || u.Scheme != "https" && u.Scheme != "http" {
			return nil, fmt.Errorf("telegram: bad webhook URL %q", cfg.hookURL)
		}
		if cfg.hookSecret == "" {
			b := make([]byte, 24)
			rand.Read(b)
			cfg.hookSecret = hex.EncodeToString(b)
		}
		if len(cfg.hookSecret) > 256 || strings.Trim(cfg.hookSecret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return nil, errors.New("telegram: the webhook secret may only hold A-Z, a-z, 0-9, _ and -, at most 256 of them")
		}
	}
	a := &Adapter{
		config:   cfg,
		token:    token,
		fileBase: base + "/file/bot" + token,
		parts:    map[int64]progress{},
	}
	// Built by hand rather than with NewBotAPIWithClient, which calls getMe
	// without a context. The endpoint is a Sprintf format.
	a.api = &tgbotapi.BotAPI{Token: token, Buffer: 100}
	a.api.SetAPIEndpoint(strings.ReplaceAll(base, "%", "%%") + "/bot%s/%s")

	var self tgbotapi.User
	if err := a.do(ctx, "getMe", func(b *tgbotapi.BotAPI) (err error) { self, err = b.GetMe(); return err }); err != nil {
		return nil, fmt.Errorf("telegram: connecting: %w", err)
	}
	a.self = self
	a.log.Info("telegram bot connected", "username", "@"+self.UserName, "bot_id", self.ID)
	for _, menu := range commandMenus {
		cfg := tgbotapi.SetMyCommandsConfig{Commands: menu.commands, LanguageCode: menu.lang}
		if err := a.request(ctx, cfg); err != nil {
			a.log.Warn("telegram: could not set the command menu", "lang", menu.lang, "err", err)
		}
	}
	return a, nil
}

// commandMenus are the commands Telegram shows in its menu, per language
// ("" is the default, English).
var commandMenus = []struct {
	lang     string
	commands []tgbotapi.BotCommand
}{
	{"", []tgbotapi.BotCommand{
		{Command: "start", Description: "Start, or start over"},
		{Command: "help", Description: "What I can do for you"},
		{Command: "mystatus", Description: "Where is my request?"},
		{Command: "cancel", Description: "Stop what we are doing"},
		{Command: "lang", Description: "Change language / भाषा बदलें"},
		{Command: "next", Description: "Volunteers: take the next task"},
		{Command: "tasks", Description: "Volunteers: my tasks"},
		{Command: "status", Description: "Coordinators: summary"},
	}},
	{"hi", []tgbotapi.BotCommand{
		{Command: "start", Description: "शुरू करें या फिर से शुरू करें"},
		{Command: "help", Description: "मैं क्या कर सकता हूँ"},
		{Command: "mystatus", Description: "मेरा अनुरोध कहाँ है?"},
		{Command: "cancel", Description: "जो चल रहा है उसे रोकें"},
		{Command: "lang", Description: "भाषा बदलें / Change language"},
		{Command: "next", Description: "स्वयंसेवक: अगला काम लें"},
		{Command: "tasks", Description: "स्वयंसेवक: मेरे काम"},
		{Command: "status", Description: "समन्वयक: सारांश"},
	}},
}

// Name is "tg".
func (a *Adapter) Name() string { return ChannelName }

// Username is the bot's @username (without the @), as getMe answered it.
func (a *Adapter) Username() string { return a.self.UserName }

// Caps says what Telegram can show and how fast it may be sent to.
func (a *Adapter) Caps() bot.Caps {
	return bot.Caps{Buttons: true, MaxChoices: MaxChoices, MaxText: MaxText, Photos: true, Rate: 30, ChatRate: 1}
}

// Receive hands every update to in until ctx ends, by long polling or, with
// WithWebhook, by registering the webhook that Handler serves. It returns nil
// when ctx ends and an error only when it cannot go on (ErrUnauthorized).
func (a *Adapter) Receive(ctx context.Context, in bot.Inbox) error {
	if a.hookURL != "" {
		return a.receiveWebhook(ctx, in)
	}
	return a.poll(ctx, in)
}

// --- calling the Bot API ---

// doer is the HTTP client of one call: it carries the call's context
// (tgbotapi builds requests without one), remembers the HTTP status (which
// tgbotapi drops for uploads) and strips the token from transport errors.
type doer struct {
	ctx    context.Context
	client *http.Client
	token  string
	status int
}

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req.WithContext(d.ctx))
	if err != nil {
		return nil, redact(err, d.token)
	}
	d.status = resp.StatusCode
	return resp, nil
}

// redact removes the token from err: the Bot API puts it in the URL path, and
// net/http quotes the URL in its errors.
func redact(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.URL, token) {
		err = &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, token, "<token>"), Err: ue.Err}
	}
	if strings.Contains(err.Error(), token) {
		return errors.New(strings.ReplaceAll(err.Error(), token, "<token>"))
	}
	return err
}

// do runs one Bot API call with ctx and maps its error (see mapError).
func (a *Adapter) do(ctx context.Context, method string, call func(*tgbotapi.BotAPI) error) error {
	d := &doer{ctx: ctx, client: a.client, token: a.token}
	b := *a.api
	b.Client = d
	return a.mapError(method, d.status, call(&b))
}

// request sends c and ignores its result.
func (a *Adapter) request(ctx context.Context, c tgbotapi.Chattable) error {
	return a.do(ctx, methodOf(c), func(b *tgbotapi.BotAPI) error { _, err := b.Request(c); return err })
}

// send sends c and returns the message Telegram made of it.
func (a *Adapter) send(ctx context.Context, c tgbotapi.Chattable) (msg tgbotapi.Message, err error) {
	err = a.do(ctx, methodOf(c), func(b *tgbotapi.BotAPI) error { msg, err = b.Send(c); return err })
	return msg, err
}

// raw calls method with params, for what tgbotapi v5.5.1 lacks (secret_token).
func (a *Adapter) raw(ctx context.Context, method string, p tgbotapi.Params) error {
	return a.do(ctx, method, func(b *tgbotapi.BotAPI) error { _, err := b.MakeRequest(method, p); return err })
}

func methodOf(c tgbotapi.Chattable) string {
	switch c.(type) {
	case tgbotapi.MessageConfig:
		return "sendMessage"
	case tgbotapi.PhotoConfig:
		return "sendPhoto"
	case tgbotapi.DocumentConfig:
		return "sendDocument"
	case tgbotapi.UpdateConfig:
		return "getUpdates"
	case tgbotapi.EditMessageTextConfig:
		return "editMessageText"
	case tgbotapi.EditMessageCaptionConfig:
		return "editMessageCaption"
	case tgbotapi.EditMessageReplyMarkupConfig:
		return "editMessageReplyMarkup"
	case tgbotapi.CallbackConfig:
		return "answerCallbackQuery"
	case tgbotapi.FileConfig:
		return "getFile"
	case tgbotapi.SetMyCommandsConfig:
		return "setMyCommands"
	case tgbotapi.DeleteWebhookConfig:
		return "deleteWebhook"
	}
	return fmt.Sprintf("%T", c)
}

// mapError is the one place where a Bot API failure becomes one of the
// errors the runtime acts on (bot.Channel.Send):
//
//   - 429 → *bot.ErrRateLimited with retry_after
//   - 403 (blocked by the user, user is deactivated, can't initiate a
//     conversation) and 400 "chat not found" → bot.ErrBlocked
//   - 401 (and 404 from getMe, a malformed token) → ErrUnauthorized; after
//     getMe also bot.ErrTransient, so that the outbox keeps the message
//     until the token is fixed
//   - 5xx, timeouts, lost connections, unreadable answers → bot.ErrTransient
//   - anything else → an error with Telegram's description
//
// No error it returns contains the token.
func (a *Adapter) mapError(method string, status int, err error) error {
	if err == nil {
		return nil
	}
	err = redact(err, a.token)
	var te *tgbotapi.Error
	if errors.As(err, &te) {
		code := te.Code
		if code == 0 { // tgbotapi leaves it out for uploads
			code = status
		}
		desc := strings.ReplaceAll(te.Message, a.token, "<token>")
		low := strings.ToLower(desc)
		switch {
		case code == 429 || te.RetryAfter > 0:
			wait := time.Duration(te.RetryAfter) * time.Second
			if wait <= 0 {
				wait = time.Second
			}
			return fmt.Errorf("telegram %s: %s: %w", method, desc, &bot.ErrRateLimited{RetryAfter: wait})
		case method == "getMe" && (code == 401 || code == 404):
			return ErrUnauthorized
		case code == 401:
			return fmt.Errorf("telegram %s: %w (%w)", method, ErrUnauthorized, bot.ErrTransient)
		case code == 403,
			code == 400 && (strings.Contains(low, "chat not found") || strings.Contains(low, "peer_id_invalid") ||
				strings.Contains(low, "user is deactivated")):
			return fmt.Errorf("telegram %s: %s: %w", method, desc, bot.ErrBlocked)
		case code >= 500:
			return fmt.Errorf("telegram %s: %s (%d): %w", method, desc, code, bot.ErrTransient)
		}
		return fmt.Errorf("telegram %s: %s (%d)", method, desc, code)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("telegram %s: %w", method, err) // a local file to upload: retrying won't help
	}
	if status >= 200 && status < 300 {
		// Telegram answered but the answer could not be read: the message may
		// well have been sent, so a retry could double it.
		return fmt.Errorf("telegram %s: unreadable answer: %w", method, err)
	}
	// A transport failure, a timeout, or an answer that is not the Bot API's
	// JSON (a proxy's 502 page).
	if status != 0 {
		return fmt.Errorf("telegram %s: HTTP %d: %w: %w", method, status, bot.ErrTransient, err)
	}
	return fmt.Errorf("telegram %s: %w: %w", method, bot.ErrTransient, err)
}

// --- sending ---

// Send delivers m with one attempt per Bot API call and returns the
// message_id of the last message it made. A text longer than MaxText goes as
// several messages; if one of them fails, a retry of the same outbox row
// (same m.ID) resumes after the parts already delivered.
func (a *Adapter) Send(ctx context.Context, m bot.Outgoing) (string, error) {
	chatID, err := strconv.ParseInt(strings.TrimSpace(m.To), 10, 64)
	if err != nil || chatID == 0 {
		return "", fmt.Errorf("telegram: bad recipient %q: want a chat id", m.To)
	}
	calls, err := Render(chatID, m)
	if err != nil {
		return "", err
	}
	p := a.progress(m.ID)
	for i := p.done; i < len(calls); i++ {
		msg, err := a.send(ctx, calls[i])
		if err != nil {
			a.setProgress(m.ID, p)
			a.log.Debug("telegram send failed", "outbox_id", m.ID, "chat", chatID, "part", i+1, "parts", len(calls), "err", err)
			return "", err
		}
		p = progress{done: i + 1, last: msg.MessageID}
	}
	a.setProgress(m.ID, progress{})
	a.log.Debug("telegram sent", "outbox_id", m.ID, "chat", chatID, "message_id", p.last, "parts", len(calls))
	return strconv.Itoa(p.last), nil
}

func (a *Adapter) progress(id int64) progress {
	if id == 0 {
		return progress{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.parts[id]
}

func (a *Adapter) setProgress(id int64, p progress) {
	if id == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.done == 0 {
		delete(a.parts, id)
		return
	}
	if len(a.parts) >= 1000 { // rows that were never retried; forget them
		clear(a.parts)
	}
	a.parts[id] = p
}

// --- receiving by long polling ---

// allowedUpdates are the update kinds Sewa asks Telegram for.
var allowedUpdates = []string{"message", "callback_query"}

// pollLimit is getUpdates' batch size (the Bot API's maximum).
const pollLimit = 100

func (a *Adapter) poll(ctx context.Context, in bot.Inbox) error {
	bo := a.backoff()
	// A webhook, if one was set, makes getUpdates fail with 409.
	for {
		err := a.request(ctx, tgbotapi.DeleteWebhookConfig{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnauthorized) {
			return err
		}
		a.log.Warn("telegram: deleteWebhook failed; retrying", "err", err)
		if !sleep(ctx, bo.next(err)) {
			return nil
		}
	}
	bo.reset()
	var offset int64
	for a.cursors != nil {
		v, err := a.cursors.Cursor(ctx, ChannelName)
		if err == nil {
			offset = v
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("telegram: cannot read the stored offset; retrying", "err", err)
		if !sleep(ctx, bo.next(err)) {
			return nil
		}
	}
	bo.reset()
	a.log.Info("telegram polling", "offset", offset, "timeout", a.pollTimeout.String())
	failures := 0 // consecutive failures to convert the same batch
	for ctx.Err() == nil {
		ups, err := a.getUpdates(ctx, offset, a.pollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrUnauthorized) {
				return err
			}
			wait := bo.next(err)
			a.log.Warn("telegram: getUpdates failed", "err", err, "retry_in", wait.Round(time.Millisecond).String())
			sleep(ctx, wait)
			continue
		}
		bo.reset()
		if len(ups) == 0 {
			continue
		}
		ups = a.completeAlbum(ctx, offset, ups)
		msgs, after, err := a.convert(ctx, ups, failures >= 8)
		if err != nil { // a photo could not be fetched for now: fetch the batch again
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait := bo.next(err)
			a.log.Warn("telegram: cannot fetch a photo; retrying the batch", "err", err, "update_id", ups[0].UpdateID, "retry_in", wait.Round(time.Millisecond).String())
			sleep(ctx, wait)
			continue
		}
		failures = 0
		next := int64(ups[len(ups)-1].UpdateID) + 1
		if !a.accept(ctx, in, msgs, &bot.Cursor{Name: ChannelName, Value: next}) {
			return nil
		}
		offset = next
		a.followUp(ctx, after)
	}
	return nil
}

// getUpdates asks for the updates from offset on, waiting up to timeout for
// one to come. Only an offset past an update confirms it to Telegram, so
// asking again with the same offset returns the same updates.
func (a *Adapter) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]tgbotapi.Update, error) {
	secs := int((timeout + time.Second - 1) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+15*time.Second)
	defer cancel()
	cfg := tgbotapi.UpdateConfig{Offset: int(offset), Limit: pollLimit, Timeout: secs, AllowedUpdates: allowedUpdates}
	var ups []tgbotapi.Update
	err := a.do(ctx, "getUpdates", func(b *tgbotapi.BotAPI) (err error) { ups, err = b.GetUpdates(cfg); return err })
	if err != nil {
		return nil, err
	}
	// Telegram never returns updates below the offset, but a confused proxy
	// or server might: they were committed already.
	out := ups[:0]
	for _, u := range ups {
		if int64(u.UpdateID) >= offset {
			out = append(out, u)
		}
	}
	return out, nil
}

// accept hands a batch and its cursor to the inbox until the inbox took them,
// backing off between attempts; it never skips a batch. It returns false
// when ctx ended first.
func (a *Adapter) accept(ctx context.Context, in bot.Inbox, msgs []bot.Message, cur *bot.Cursor) bool {
	bo := a.backoff()
	for {
		err := in.Accept(ctx, msgs, cur)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bo.next(nil)
		a.log.Warn("telegram: the inbox refused a batch; retrying it", "err", err, "messages", len(msgs), "cursor", cur.Value, "retry_in", wait.Round(time.Millisecond).String())
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// albumPoll is how often completeAlbum looks for the rest of an album.
const albumPoll = 100 * time.Millisecond

// completeAlbum waits (up to albumWait) for the rest of an album when the
// batch ends with one of its photos, by asking again with the same offset,
// which confirms nothing. A full batch is instead cut before the album, which
// then starts the next batch.
func (a *Adapter) completeAlbum(ctx context.Context, offset int64, ups []tgbotapi.Update) []tgbotapi.Update {
	group := trailingAlbum(ups)
	if group == "" {
		return ups
	}
	if len(ups) >= pollLimit {
		for i, u := range ups {
			if i > 0 && albumOf(u) == group {
				return ups[:i]
			}
		}
		return ups
	}
	deadline := time.Now().Add(a.albumWait)
	for trailingAlbum(ups) != "" && len(ups) < pollLimit {
		left := time.Until(deadline)
		if left <= 0 || !sleep(ctx, min(left, albumPoll)) {
			break
		}
		more, err := a.getUpdates(ctx, offset, 0)
		if err != nil {
			break
		}
		if len(more) > len(ups) {
			ups = more
		}
	}
	return ups
}

// trailingAlbum is the media_group_id of the last update, if it is part of
// an album.
func trailingAlbum(ups []tgbotapi.Update) string {
	if len(ups) == 0 {
		return ""
	}
	return albumOf(ups[len(ups)-1])
}

func albumOf(u tgbotapi.Update) string {
	if u.Message == nil || u.Message.MediaGroupID == "" || u.Message.Chat == nil {
		return ""
	}
	return strconv.FormatInt(u.Message.Chat.ID, 10) + "/" + u.Message.MediaGroupID
}

// backoff is a capped exponential backoff with jitter.
type backoff struct {
	first, longest, cur time.Duration
}

func (a *Adapter) backoff() *backoff {
	return &backoff{first: a.backoffMin, longest: max(a.backoffMax, a.backoffMin)}
}

func (b *backoff) reset() { b.cur = 0 }

// next is the pause before the next attempt: retry_after for a 429,
// otherwise the doubled pause, between half of it and all of it.
func (b *backoff) next(err error) time.Duration {
	var rl *bot.ErrRateLimited
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	if b.cur == 0 {
		b.cur = b.first
	} else {
		b.cur = min(b.cur*2, b.longest)
	}
	half := b.cur / 2
	return half + jitter(b.cur-half)
}

// sleep waits d or until ctx ends; it says whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return mrand.N(d)
}
