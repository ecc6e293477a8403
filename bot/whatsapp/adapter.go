// Package whatsapp is Sewa's WhatsApp channel: an ordinary WhatsApp number
// linked as a companion device (like WhatsApp Web) through go.mau.fi/whatsmeow.
// It turns private messages into bot.Messages for the runtime's Inbox and
// renders bot.Outgoing messages as WhatsApp messages, choices as numbered
// lists. It decides nothing; what a message means is the runtime's business.
//
// Nothing is acknowledged before it is committed: the event handler returns
// true to whatsmeow (which then sends the receipt) only once Inbox.Accept
// committed the message, and false otherwise, so that WhatsApp delivers it
// again. The adapter talks to whatsmeow through Client, which tests replace
// with a recording fake.
package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"sewa/bot"
)

// ChannelName is the adapter's Name(): contacts are "wa:919812345678".
const ChannelName = "wa"

// Client is the part of *whatsmeow.Client the adapter and pairing use.
type Client interface {
	AddEventHandlerWithSuccessStatus(handler whatsmeow.EventHandlerWithSuccessStatus) uint32
	ConnectContext(ctx context.Context) error
	Disconnect()
	GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error)
	PairPhone(ctx context.Context, phone string, showPushNotification bool, clientType whatsmeow.PairClientType, clientDisplayName string) (string, error)
	SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	Upload(ctx context.Context, plaintext []byte, appInfo whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
	Logout(ctx context.Context) error
}

var _ Client = (*whatsmeow.Client)(nil)

// Option configures an Adapter.
type Option func(*Adapter)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithDataDir sets the directory under which received photos are saved, in
// {dir}/photos/ (default: the working directory).
func WithDataDir(dir string) Option { return func(a *Adapter) { a.dataDir = dir } }

// WithMessageIDSalt sets the salt of outgoing message ids (see MessageID).
// Keep it with Sewa's database: a new database needs a new salt.
func WithMessageIDSalt(salt []byte) Option { return func(a *Adapter) { a.salt = salt } }

// WithRate sets the send limits in messages per second, overall and per
// chat (default 1 and 1; 0 = none): WhatsApp bans numbers that send in
// bursts.
func WithRate(overall, perChat float64) Option {
	return func(a *Adapter) { a.rate, a.chatRate = overall, perChat }
}

// WithJitter sets the longest random pause before each send (default
// 700ms), so that messages do not leave at machine-regular intervals.
func WithJitter(d time.Duration) Option { return func(a *Adapter) { a.jitter = d } }

// WithAlert sets who hears about permanent connection trouble (logged out,
// banned, replaced, outdated) and its end, in a sentence for a person; the
// runtime passes it on to coordinators on their other channels.
func WithAlert(f func(ctx context.Context, text string)) Option {
	return func(a *Adapter) { a.alert = f }
}

// WithBackoff sets the first and the longest pause between attempts to
// connect (default 2s and 2m).
func WithBackoff(first, longest time.Duration) Option {
	return func(a *Adapter) { a.backoffMin, a.backoffMax = first, longest }
}

// WithClock sets the clock that stamps states (default time.Now).
func WithClock(now func() time.Time) Option { return func(a *Adapter) { a.now = now } }

// Adapter is the WhatsApp channel. Send is safe for concurrent use; run one
// Receive at a time.
type Adapter struct {
	cli             Client
	lids            LIDs
	log             *slog.Logger
	dataDir         string
	salt            []byte
	rate, chatRate  float64
	jitter          time.Duration
	alert           func(ctx context.Context, text string)
	backoffMin      time.Duration
	backoffMax      time.Duration
	now             func() time.Time
	handleTimeout   time.Duration
	downloadTimeout time.Duration

	recv      atomic.Pointer[receiver] // set while Receive runs
	receiving atomic.Bool
	reconnect chan time.Duration // a permanent state that ends by itself (a ban) asks for a reconnect

	mu    sync.Mutex
	state State
	parts map[int64]int // outbox id → parts of a multi-part message already delivered
}

type receiver struct {
	in  bot.Inbox
	ctx context.Context
}

// New returns the channel over cli, resolving LID senders with lids (the
// device store's LID map). It registers the event handler, and on a
// *whatsmeow.Client it turns on SynchronousAck (receipts only after the
// handler returned true) and the decrypted-event buffer (so that a message
// not acknowledged can be decrypted again when it comes back).
func New(cli Client, lids LIDs, opts ...Option) *Adapter {
	a := &Adapter{
		cli:             cli,
		lids:            lids,
		dataDir:         ".",
		rate:            1,
		chatRate:        1,
		jitter:          700 * time.Millisecond,
		backoffMin:      2 * time.Second,
		backoffMax:      2 * time.Minute,
		now:             time.Now,
		handleTimeout:   2 * time.Minute,
		downloadTimeout: 90 * time.Second,
		reconnect:       make(chan time.Duration, 1),
		parts:           map[int64]int{},
	}
	for _, o := range opts {
		o(a)
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("channel", ChannelName)
	a.state = State{Code: StateNotStarted, Sentence: "WhatsApp has not connected yet.", At: a.now()}
	if wc, ok := cli.(*whatsmeow.Client); ok {
		Prepare(wc)
	}
	cli.AddEventHandlerWithSuccessStatus(a.handle)
	return a
}

// Name is "wa".
func (a *Adapter) Name() string { return ChannelName }

// Caps says what WhatsApp can show and how fast Sewa may send.
func (a *Adapter) Caps() bot.Caps {
	return bot.Caps{Buttons: false, MaxChoices: MaxChoices, MaxText: MaxText, Photos: true, AddressIsPhone: true,
		Rate: a.rate, ChatRate: a.chatRate}
}

// Receive connects and hands every private message to in until ctx ends.
// whatsmeow reconnects by itself after a lost connection; when the first
// connection fails, Receive keeps trying with backoff. It returns nil when
// ctx ends: a logged-out or banned WhatsApp is a state (State, WithAlert),
// not a reason to stop the other channels.
func (a *Adapter) Receive(ctx context.Context, in bot.Inbox) error {
	if !a.receiving.CompareAndSwap(false, true) {
		return errors.New("whatsapp: Receive is already running")
	}
	defer a.receiving.Store(false)
	a.recv.Store(&receiver{in: in, ctx: ctx})
	defer a.recv.Store(nil)
	defer a.cli.Disconnect()
	a.connect(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-a.reconnect:
			a.log.Info("whatsapp: reconnecting later", "in", d)
			if sleep(ctx, d) != nil {
				return nil
			}
			a.connect(ctx)
		}
	}
}

// connect connects, trying again with backoff until it works or ctx ends.
func (a *Adapter) connect(ctx context.Context) {
	wait := a.backoffMin
	for ctx.Err() == nil {
		a.log.Info("connecting to WhatsApp")
		err := a.cli.ConnectContext(ctx)
		if err == nil || errors.Is(err, whatsmeow.ErrAlreadyConnected) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.setState(ctx, State{Code: StateConnectFailed, Sentence: fmt.Sprintf(
			"Sewa cannot reach WhatsApp (%v); it tries again in %s. Check the server's internet connection.", err, wait.Round(time.Second))})
		if sleep(ctx, wait/2+rand.N(wait/2+1)) != nil {
			return
		}
		wait = min(2*wait, a.backoffMax)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// --- receiving ---

// handle is the whatsmeow event handler. whatsmeow runs it in its receive
// loop, one event at a time; for a message, true means "committed, send the
// receipt" and false "not taken, deliver it again".
func (a *Adapter) handle(evt any) bool {
	if e, ok := evt.(*events.Message); ok {
		return a.onMessage(e)
	}
	ctx := context.Background()
	if r := a.recv.Load(); r != nil {
		ctx = r.ctx
	}
	s, ok := stateOf(evt)
	if !ok {
		return true
	}
	a.setState(ctx, s)
	switch e := evt.(type) {
	case *events.TemporaryBan:
		if e.Expire > 0 {
			a.askReconnect(e.Expire + time.Minute)
		}
	case *events.ConnectFailure:
		a.askReconnect(time.Minute)
	}
	return true
}

func (a *Adapter) askReconnect(after time.Duration) {
	select {
	case a.reconnect <- after:
	default:
	}
}

// onMessage takes one message: private chats only; a LID sender becomes
// their phone number; the content is classified once and converted; the
// message id (with the sender) is the idempotency key.
func (a *Adapter) onMessage(e *events.Message) bool {
	log := a.log.With("wa_id", e.Info.ID)
	if why := dropReason(e); why != "" {
		log.Debug("whatsapp message ignored", "why", why, "chat", e.Info.Chat.String())
		return true
	}
	r := a.recv.Load()
	if r == nil {
		log.Warn("whatsapp message before Receive started; WhatsApp will deliver it again")
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, a.handleTimeout)
	defer cancel()
	phone, err := PhoneOf(ctx, a.lids, e.Info.MessageSource)
	if err != nil {
		log.Warn("whatsapp sender unknown; WhatsApp will deliver the message again", "err", err)
		return false
	}
	m, ok, err := a.convert(ctx, e, phone.User)
	if err != nil {
		log.Warn("whatsapp message not taken; WhatsApp will deliver it again", "err", err)
		return false
	}
	if !ok {
		log.Debug("whatsapp message without anything for Sewa ignored", "from", phone.User)
		return true
	}
	if err := r.in.Accept(ctx, []bot.Message{m}, nil); err != nil {
		log.Error("whatsapp message not committed; WhatsApp will deliver it again", "err", err)
		return false
	}
	return true
}

// --- sending ---

// Send delivers m as the messages Render makes of it, each under the id
// MessageID derives from the outbox row. The parts already delivered of a
// message that failed half-way are not sent again. It returns the id of
// the last WhatsApp message.
func (a *Adapter) Send(ctx context.Context, m bot.Outgoing) (string, error) {
	to, err := JIDOf(m.To)
	if err != nil {
		return "", err
	}
	parts := Render(m)
	if len(parts) == 0 {
		return "", errors.New("whatsapp: nothing to send (no text, image or document)")
	}
	a.mu.Lock()
	done := a.parts[m.ID]
	a.mu.Unlock()
	if a.jitter > 0 {
		if err := sleep(ctx, rand.N(a.jitter)); err != nil {
			return "", err
		}
	}
	var last types.MessageID
	for i := done; i < len(parts); i++ {
		msg, err := a.build(ctx, parts[i])
		if err != nil {
			return "", err
		}
		resp, err := a.cli.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: MessageID(a.salt, m.ID, i)})
		if err != nil {
			return "", mapError("send "+parts[i].Kind.String(), err)
		}
		last = resp.ID
		if m.ID != 0 && i < len(parts)-1 {
			a.mu.Lock()
			a.parts[m.ID] = i + 1
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	delete(a.parts, m.ID)
	a.mu.Unlock()
	return string(last), nil
}

// build makes the WhatsApp message of one part, uploading its file.
func (a *Adapter) build(ctx context.Context, p Part) (*waE2E.Message, error) {
	if p.Kind == PartText {
		return &waE2E.Message{Conversation: proto.String(p.Text)}, nil
	}
	data, err := os.ReadFile(p.Path)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: %s to send: %w", p.Kind, err) // retrying will not help
	}
	var caption *string
	if p.Text != "" {
		caption = proto.String(p.Text)
	}
	if p.Kind == PartImage {
		mt := http.DetectContentType(data)
		if !strings.HasPrefix(mt, "image/") {
			mt = "image/jpeg"
		}
		up, err := a.cli.Upload(ctx, data, whatsmeow.MediaImage)
		if err != nil {
			return nil, mapError("upload image", err)
		}
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: caption, Mimetype: proto.String(mt),
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}, nil
	}
	name := filepath.Base(p.Path)
	mt := mime.TypeByExtension(filepath.Ext(name))
	if mt == "" {
		mt = http.DetectContentType(data)
	}
	up, err := a.cli.Upload(ctx, data, whatsmeow.MediaDocument)
	if err != nil {
		return nil, mapError("upload document", err)
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		Caption: caption, Mimetype: proto.String(mt), Title: proto.String(name), FileName: proto.String(name),
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
	}}, nil
}

// rateLimitPause is how long to hold sends after WhatsApp said "too many";
// it gives no retry-after of its own.
const rateLimitPause = time.Minute

// mapError is the one place where a whatsmeow failure becomes one of the
// errors the runtime acts on (bot.Channel.Send):
//
//   - rate-overlimit (429) and resource-limit (419) → *bot.ErrRateLimited
//   - not connected, not logged in (the link is gone until someone links
//     again: the outbox keeps the message meanwhile), timeouts, a connection
//     lost before the answer, 5xx, network errors → bot.ErrTransient
//   - a recipient WhatsApp knows no account for → bot.ErrBlocked
//   - anything else (a bad address, a server error code) → an error that
//     fails this one message
func mapError(op string, err error) error {
	var disc *whatsmeow.DisconnectedError
	var netErr net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit), errors.Is(err, whatsmeow.ErrIQResourceLimit), httpStatus(err) == 429:
		return fmt.Errorf("whatsapp %s: %w: %w", op, &bot.ErrRateLimited{RetryAfter: rateLimitPause}, err)
	case errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsmeow.ErrNotLoggedIn),
		errors.Is(err, whatsmeow.ErrIQTimedOut), errors.Is(err, whatsmeow.ErrMessageTimedOut),
		errors.As(err, &disc), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, whatsmeow.ErrIQInternalServerError), errors.Is(err, whatsmeow.ErrIQServiceUnavailable),
		errors.Is(err, whatsmeow.ErrIQPartialServerError), httpStatus(err) >= 500, errors.As(err, &netErr):
		return fmt.Errorf("whatsapp %s: %w: %w", op, bot.ErrTransient, err)
	case strings.Contains(err.Error(), "no LID found for"):
		// whatsmeow asked the server for the account behind the number and
		// there is none: the number is not on WhatsApp.
		return fmt.Errorf("whatsapp %s: not on WhatsApp: %w: %w", op, bot.ErrBlocked, err)
	}
	return fmt.Errorf("whatsapp %s: %w", op, err)
}

// httpStatus reads the status of whatsmeow's "upload failed with status
// code N", or 0.
func httpStatus(err error) int {
	_, after, ok := strings.Cut(err.Error(), "status code ")
	if !ok {
		return 0
	}
	var n int
	fmt.Sscanf(after, "%d", &n)
	return n
}
