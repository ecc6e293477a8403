package whatsapp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"sewa/bot"
	"sewa/bot/whatsapp"
	"sewa/flows"
	"sewa/store"
)

// start is a fixed instant so every run is the same.
var start = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

const (
	asha = "919812345678"
	ravi = "919876543210"
)

// world is a running Sewa with the WhatsApp adapter over a recording fake
// of whatsmeow: a real SQLite file for Sewa, a real device store for the
// LID map, a clock that moves only when told, and Receive running.
type world struct {
	t     *testing.T
	dir   string
	clock *bot.FixedClock
	st    *store.Store
	dev   *whatsapp.Device
	fake  *fakeClient
	ad    *whatsapp.Adapter
	rt    *bot.Runtime
	seen  int // deliveries already returned by say
	seq   int

	mu     sync.Mutex
	alerts []string
}

func newWorld(t *testing.T, opts ...bot.Option) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, dir: t.TempDir(), clock: bot.NewFixedClock(start), fake: newFake()}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, filepath.Join(w.dir, "sewa.db"))
	if err != nil {
		t.Fatal(err)
	}
	w.st = st
	dev, err := whatsapp.OpenDevice(ctx, filepath.Join(w.dir, whatsapp.StoreFile), log)
	if err != nil {
		t.Fatal(err)
	}
	w.dev = dev
	w.ad = whatsapp.New(w.fake, dev.Container.LIDMap,
		whatsapp.WithLogger(log), whatsapp.WithDataDir(w.dir), whatsapp.WithRate(0, 0), whatsapp.WithJitter(0),
		whatsapp.WithMessageIDSalt([]byte("test salt")), whatsapp.WithBackoff(time.Millisecond, 5*time.Millisecond),
		whatsapp.WithAlert(func(_ context.Context, text string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.alerts = append(w.alerts, text)
		}))
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]bot.Option{bot.WithChannel(w.ad), bot.WithClock(w.clock), bot.WithLogger(log), bot.WithLocation(time.UTC)}, opts...)
	w.rt = bot.New(st, set, opts...)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.ad.Receive(runCtx, w.rt) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Receive: %v", err)
		}
		dev.Close()
		st.Close()
	})
	select {
	case <-w.fake.connects:
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not connect")
	}
	return w
}

// testLog sends the log to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pn is a private chat with a phone-number sender on their phone (device 3).
func pn(user string) types.MessageSource {
	return types.MessageSource{Chat: types.NewJID(user, types.DefaultUserServer), Sender: types.NewADJID(user, 0, 3), AddressingMode: types.AddressingModePN}
}

// lid is a private chat with a LID sender; alt is their phone number, or "".
func lid(id, alt string) types.MessageSource {
	j := types.NewJID(id, types.HiddenUserServer)
	src := types.MessageSource{Chat: j, Sender: j, AddressingMode: types.AddressingModeLID}
	if alt != "" {
		src.SenderAlt = types.NewJID(alt, types.DefaultUserServer)
	}
	return src
}

func text(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

func extText(s string) *waE2E.Message {
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(s)}}
}

func location(lat, lon float64) *waE2E.Message {
	return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(lat), DegreesLongitude: proto.Float64(lon)}}
}

// image is a photo whose bytes the fake serves at path.
func (w *world) image(path string, data []byte, caption string) *waE2E.Message {
	w.fake.mu.Lock()
	w.fake.media[path] = data
	w.fake.mu.Unlock()
	return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		Caption: proto.String(caption), Mimetype: proto.String("image/jpeg"), DirectPath: proto.String(path),
		MediaKey: []byte{1}, FileSHA256: bytes.Repeat([]byte{byte(len(path))}, 32), FileEncSHA256: []byte{3},
		FileLength: proto.Uint64(uint64(len(data))),
	}}
}

// event builds a message event with a fresh id.
func (w *world) event(src types.MessageSource, m *waE2E.Message) *events.Message {
	w.seq++
	return &events.Message{
		Info: types.MessageInfo{MessageSource: src, ID: types.MessageID(fmt.Sprintf("3A%018d", w.seq)),
			PushName: "Pushname " + src.Sender.User, Timestamp: start.Add(time.Duration(w.seq) * time.Second)},
		Message: m,
	}
}

// deliver dispatches evt into the adapter, flushes the outbox through it
// and returns what the handler answered and what was delivered since.
func (w *world) deliver(evt *events.Message) (bool, []string) {
	w.t.Helper()
	ok := w.fake.emit(evt)
	return ok, w.flush()
}

func (w *world) flush() []string {
	w.t.Helper()
	if err := w.rt.Flush(context.Background(), whatsapp.ChannelName); err != nil {
		w.t.Fatalf("flush: %v", err)
	}
	all := w.fake.sentTexts()
	got := all[w.seen:]
	w.seen = len(all)
	return got
}

// say sends m from src and requires the handler to take it.
func (w *world) say(src types.MessageSource, m *waE2E.Message) []string {
	w.t.Helper()
	ok, got := w.deliver(w.event(src, m))
	if !ok {
		w.t.Fatalf("%s: the handler did not take %s", src.Sender, flatten(m))
	}
	return got
}

type step struct {
	from types.MessageSource
	msg  *waE2E.Message
	want []string // regexps, one per delivered message, in order
}

func (w *world) run(steps []step) {
	w.t.Helper()
	for i, s := range steps {
		got := w.say(s.from, s.msg)
		if len(got) != len(s.want) {
			w.t.Fatalf("step %d (%s): %d messages delivered, want %d:\n%s", i+1, flatten(s.msg), len(got), len(s.want), strings.Join(got, "\n---\n"))
		}
		for j, re := range s.want {
			if !regexp.MustCompile(re).MatchString(got[j]) {
				w.t.Fatalf("step %d (%s): message %d\nwant %q\n got %q", i+1, flatten(s.msg), j+1, re, got[j])
			}
		}
	}
}

func (w *world) card(id string) *store.Card {
	w.t.Helper()
	var c *store.Card
	err := w.st.Tx(context.Background(), func(tx *store.Tx) (err error) {
		c, err = tx.Card(id)
		return err
	})
	if err != nil {
		w.t.Fatalf("card %s: %v", id, err)
	}
	return c
}

func (w *world) contact(address string) (*store.Contact, error) {
	var c *store.Contact
	err := w.st.Tx(context.Background(), func(tx *store.Tx) (err error) {
		c, err = tx.Contact(whatsapp.ChannelName, address)
		return err
	})
	return c, err
}

func (w *world) contacts() int {
	w.t.Helper()
	var n int
	err := w.st.Tx(context.Background(), func(tx *store.Tx) (err error) {
		n, err = tx.CountContacts(whatsapp.ChannelName)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

const menu = `(?s)^` + asha + `: Namaste!.*\n\n1\. Request a ration kit\n2\. Volunteer with us\n3\. Where is my request\?\n\nReply 1, 2 or 3\.$`

// The Request intake on WhatsApp, answered by numbers: the menu, the
// optional question's "Skip", a shared location and a photo; the phone
// question is never asked, the sender's number is known.
func TestRequestIntakeByNumbers(t *testing.T) {
	w := newWorld(t)
	photo := []byte("\xff\xd8\xff\xe0 a jpeg of the handwritten list")
	w.run([]step{
		{pn(asha), text("hello"), []string{menu}},
		{pn(asha), text("1"), []string{`^` + asha + `: What is your name\?$`}},
		{pn(asha), text("Asha Devi"), []string{`: Where should the kit reach\?`}},
		{pn(asha), location(28.5355, 77.2910), []string{`: How many families need a kit\?$`}},
		{pn(asha), text("1"), []string{`: How many people in all\?$`}},
		{pn(asha), text("5"), []string{`(?s): Anything we should know\?.*\n\n1\. Skip\n\nReply 1\.$`}},
		{pn(asha), text("1"), []string{`(?s): Asking for many families\? Send a photo.*1\. Skip`}},
		{pn(asha), w.image("/v/t62/list", photo, ""), []string{`: Thank you\. Your request is R-1\.`}},
	})
	c := w.card("R-1")
	if c.Fields["phone"] != "9812345678" {
		t.Errorf("phone = %q, want the sender's number 9812345678", c.Fields["phone"])
	}
	if c.Fields["name"] != "Asha Devi" || c.Fields["families"] != "1" || c.Fields["people"] != "5" {
		t.Errorf("fields = %v", c.Fields)
	}
	if c.Fields["address"] != "geo:28.535500,77.291000" {
		t.Errorf("address = %q, want the shared location", c.Fields["address"])
	}
	path := c.Fields["list_photo"]
	if filepath.Dir(path) != filepath.Join(w.dir, "photos") {
		t.Errorf("photo saved at %q, want under %s", path, filepath.Join(w.dir, "photos"))
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("photo file %s: %q, %v", path, got, err)
	}
	who, err := w.contact(asha)
	if err != nil || who.Name != "Pushname "+asha || who.Phone != "9812345678" {
		t.Errorf("contact = %+v, %v", who, err)
	}
}

// The same intake answered in words (menu label, "skip"), with extended
// text messages as WhatsApp sends replies and links, after /request.
func TestRequestIntakeByWords(t *testing.T) {
	w := newWorld(t)
	w.run([]step{
		{pn(ravi), extText("hi"), []string{`Reply 1, 2 or 3\.$`}},
		{pn(ravi), extText("Request a ration kit"), []string{`: What is your name\?$`}},
		{pn(ravi), extText("Ravi Kumar"), []string{`: Where should the kit reach\?`}},
		{pn(ravi), extText("B-12 Sanjay Colony, near Okhla metro"), []string{`families`}},
		{pn(ravi), extText("2"), []string{`people`}},
		{pn(ravi), extText("9"), []string{`Anything we should know`}},
		{pn(ravi), extText("skip"), []string{`photo`}},
		{pn(ravi), extText("skip"), []string{`^` + ravi + `: Thank you\. Your request is R-1\.`}},
		{pn(ravi), extText("/mystatus"), []string{`(?s)R-1: waiting for a volunteer`}},
	})
	if got := w.card("R-1").Fields["phone"]; got != "9876543210" {
		t.Errorf("phone = %q", got)
	}

	w2 := newWorld(t)
	w2.run([]step{
		{pn(asha), text("/request"), []string{`: What is your name\?$`}},
	})
}

// A message WhatsApp delivers twice (no receipt reached it) changes nothing
// the second time: one card, one reply.
func TestSameMessageTwiceDoesNothing(t *testing.T) {
	w := newWorld(t)
	w.run([]step{
		{pn(asha), text("/request"), []string{`name`}},
		{pn(asha), text("Asha"), []string{`reach`}},
		{pn(asha), text("Okhla"), []string{`families`}},
		{pn(asha), text("1"), []string{`people`}},
		{pn(asha), text("4"), []string{`know`}},
		{pn(asha), text("skip"), []string{`photo`}},
	})
	last := w.event(pn(asha), text("skip"))
	for i, want := range []int{1, 0} {
		ok, got := w.deliver(last)
		if !ok || len(got) != want {
			t.Fatalf("delivery %d: handler %v, %d replies (want %d): %q", i+1, ok, len(got), want, got)
		}
	}
	w.card("R-1")
	var n int
	w.st.Tx(context.Background(), func(tx *store.Tx) error {
		c, err := tx.Contact(whatsapp.ChannelName, asha)
		if err != nil {
			return err
		}
		cards, err := tx.CardsOf(c.ID, 10)
		n = len(cards)
		return err
	})
	if n != 1 {
		t.Errorf("%d cards, want 1", n)
	}
}

// Groups, status updates and our own messages are acknowledged and dropped:
// no reply, no contact.
func TestIgnoredMessages(t *testing.T) {
	w := newWorld(t)
	group, _ := types.ParseJID("120363000000000000@g.us")
	cases := map[string]types.MessageSource{
		"group": {Chat: group, Sender: types.NewADJID(asha, 0, 3), IsGroup: true},
		"group from a LID": {Chat: group, Sender: types.NewJID("987654321098765", types.HiddenUserServer),
			SenderAlt: types.NewJID(asha, types.DefaultUserServer), IsGroup: true},
		"status":  {Chat: types.StatusBroadcastJID, Sender: types.NewADJID(asha, 0, 3)},
		"from me": {Chat: types.NewJID(asha, types.DefaultUserServer), Sender: types.NewADJID("919999999999", 0, 0), IsFromMe: true},
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			ok, got := w.deliver(w.event(src, text("hello")))
			if !ok || len(got) != 0 {
				t.Errorf("handler %v, replies %q; want acknowledged and silent", ok, got)
			}
		})
	}
	if n := w.contacts(); n != 0 {
		t.Errorf("%d contacts made from ignored messages", n)
	}
}

// A LID sender is the same contact as their phone number, through
// SenderAlt or the device store's LID map; an unknown LID is not taken, so
// that WhatsApp delivers it again.
func TestLIDSenderIsTheirPhoneNumber(t *testing.T) {
	w := newWorld(t)
	w.run([]step{
		{pn(asha), text("hello"), []string{menu}},
		{lid("987654321098765", asha), text("1"), []string{`^` + asha + `: What is your name\?$`}},
	})
	other := types.NewJID("111222333444555", types.HiddenUserServer)
	if err := w.dev.Container.LIDMap.PutLIDMapping(context.Background(), other, types.NewJID(asha, types.DefaultUserServer)); err != nil {
		t.Fatal(err)
	}
	w.run([]step{{lid(other.User, ""), text("Asha"), []string{`^` + asha + `: Where should the kit reach`}}})
	if n := w.contacts(); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}

	ok, got := w.deliver(w.event(lid("555555555555555", ""), text("hello")))
	if ok || len(got) != 0 {
		t.Errorf("unknown LID: handler %v, replies %q; want false (redeliver) and silence", ok, got)
	}
	if n := w.contacts(); n != 1 {
		t.Errorf("%d contacts after an unknown LID, want 1", n)
	}
}

// Content Sewa cannot use is explained by kind, kindly.
func TestOtherKindsExplained(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name string
		msg  *waE2E.Message
		want string
	}{
		{"sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp")}}, `I cannot use a sticker here`},
		{"voice", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true)}}, `I cannot use a voice message here`},
		{"audio", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{}}, `I cannot use an audio file here`},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{}}, `I cannot use a video here`},
		{"document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Mimetype: proto.String("application/pdf")}}, `I cannot use a document here`},
		{"contact", &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Ravi")}}, `I cannot use a contact card here`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := w.say(pn(asha), c.msg)
			if len(got) != 1 || !strings.Contains(got[0], c.want) {
				t.Errorf("replies %q, want one containing %q", got, c.want)
			}
		})
	}
	// Reactions and protocol messages are nothing a person said to Sewa.
	for _, m := range []*waE2E.Message{
		{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("👍")}},
		{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}},
	} {
		if got := w.say(pn(asha), m); len(got) != 0 {
			t.Errorf("%v answered with %q", m, got)
		}
	}
}

// An image whose media WhatsApp no longer has is taken without it (not
// redelivered for ever); one that cannot be fetched now is redelivered.
func TestImageDownloadFailures(t *testing.T) {
	w := newWorld(t)
	gone := w.image("/v/t62/gone", nil, "")
	w.fake.mu.Lock()
	delete(w.fake.media, "/v/t62/gone")
	w.fake.mu.Unlock()
	if got := w.say(pn(asha), gone); len(got) != 1 || !strings.Contains(got[0], "cannot use") {
		t.Errorf("replies %q, want the kind explanation", got)
	}

	// A photo sent again with a caption is saved once, under its hash.
	img := w.image("/v/t62/again", []byte("jpeg"), "my list")
	w.say(pn(asha), img)
	w.say(pn(asha), img)
	files, _ := filepath.Glob(filepath.Join(w.dir, "photos", "wa-*"))
	if len(files) != 1 {
		t.Errorf("photos: %q, want one", files)
	}
}

// Outbound: an image is uploaded, then sent with its caption, under the
// message id derived from the outbox row; a document likewise.
func TestImageAndDocumentUploadedThenSent(t *testing.T) {
	w := newWorld(t)
	img := filepath.Join(w.dir, "kit.png")
	doc := filepath.Join(w.dir, "receipt-D-3.pdf")
	os.WriteFile(img, []byte("\x89PNG\r\n\x1a\n not really"), 0o600)
	os.WriteFile(doc, []byte("%PDF-1.4 receipt"), 0o600)
	ctx := context.Background()

	id, err := w.ad.Send(ctx, bot.Outgoing{ID: 7, To: asha, Text: "Delivered: 4 kits", Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if want := whatsapp.MessageID([]byte("test salt"), 7, 0); id != string(want) {
		t.Errorf("id %q, want %q", id, want)
	}
	_, err = w.ad.Send(ctx, bot.Outgoing{ID: 8, To: asha, Text: "Your receipt", Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"upload WhatsApp Image Keys 19B", "send image", "upload WhatsApp Document Keys 16B", "send document"}
	if fmt.Sprint(w.fake.calls) != fmt.Sprint(wantCalls) {
		t.Errorf("calls %q\nwant  %q", w.fake.calls, wantCalls)
	}
	im := w.fake.sent[0].Msg.GetImageMessage()
	if im.GetCaption() != "Delivered: 4 kits" || im.GetMimetype() != "image/png" || im.GetDirectPath() != "/v/t62/up0" || im.GetFileLength() != 19 {
		t.Errorf("image message %v", im)
	}
	dm := w.fake.sent[1].Msg.GetDocumentMessage()
	if dm.GetFileName() != "receipt-D-3.pdf" || dm.GetMimetype() != "application/pdf" || dm.GetCaption() != "Your receipt" {
		t.Errorf("document message %v", dm)
	}
	if to := w.fake.sent[0].To; to.String() != asha+"@s.whatsapp.net" {
		t.Errorf("sent to %s", to)
	}
	if _, err := w.ad.Send(ctx, bot.Outgoing{ID: 9, To: asha, Image: filepath.Join(w.dir, "missing.jpg")}); err == nil ||
		errors.Is(err, bot.ErrTransient) {
		t.Errorf("missing file: %v, want a permanent error", err)
	}
}

// Send errors are mapped to what the outbox acts on.
func TestSendErrors(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cases := []struct {
		name string
		err  error
		want func(error) bool
	}{
		{"not connected", fmt.Errorf("failed to get device list: failed to send usync query: %w", whatsmeow.ErrNotConnected),
			func(err error) bool { return errors.Is(err, bot.ErrTransient) }},
		{"not logged in", whatsmeow.ErrNotLoggedIn, func(err error) bool { return errors.Is(err, bot.ErrTransient) }},
		{"timed out", whatsmeow.ErrMessageTimedOut, func(err error) bool { return errors.Is(err, bot.ErrTransient) }},
		{"disconnected", whatsmeow.ErrIQDisconnected, func(err error) bool { return errors.Is(err, bot.ErrTransient) }},
		{"rate limit", fmt.Errorf("failed to get user info: %w", whatsmeow.ErrIQRateOverLimit), func(err error) bool {
			var rl *bot.ErrRateLimited
			return errors.As(err, &rl) && rl.RetryAfter > 0
		}},
		{"not on WhatsApp", fmt.Errorf("no LID found for %s@s.whatsapp.net from server", asha),
			func(err error) bool { return errors.Is(err, bot.ErrBlocked) }},
		{"server error", fmt.Errorf("%w 479", whatsmeow.ErrServerReturnedError), func(err error) bool {
			return err != nil && !errors.Is(err, bot.ErrTransient) && !errors.Is(err, bot.ErrBlocked)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.fake.mu.Lock()
			w.fake.sendErr = []error{c.err}
			w.fake.mu.Unlock()
			_, err := w.ad.Send(ctx, bot.Outgoing{ID: 1, To: asha, Text: "hi"})
			if !c.want(err) {
				t.Errorf("got %v", err)
			}
		})
	}
	if _, err := w.ad.Send(ctx, bot.Outgoing{ID: 1, To: "Asha", Text: "hi"}); err == nil || errors.Is(err, bot.ErrTransient) {
		t.Errorf("bad address: %v, want a permanent error", err)
	}
}

// A send that fails because WhatsApp is not connected stays in the outbox
// and goes out once, under the same message id, when the backoff is over.
func TestSendRetriedThroughOutbox(t *testing.T) {
	w := newWorld(t)
	w.fake.mu.Lock()
	w.fake.sendErr = []error{fmt.Errorf("failed to get device list: %w", whatsmeow.ErrNotConnected)}
	w.fake.mu.Unlock()
	if got := w.say(pn(asha), text("/request")); len(got) != 0 {
		t.Fatalf("delivered %q while not connected", got)
	}
	if got := w.flush(); len(got) != 0 {
		t.Fatalf("retried before the backoff: %q", got)
	}
	w.clock.Advance(2 * time.Second)
	got := w.flush()
	if len(got) != 1 || !strings.Contains(got[0], "What is your name?") {
		t.Fatalf("after the backoff: %q", got)
	}
	w.clock.Advance(time.Hour)
	if got := w.flush(); len(got) != 0 {
		t.Errorf("delivered again: %q", got)
	}
	if a := w.fake.attempts; len(a) != 2 || a[0].ID != a[1].ID || !strings.HasPrefix(string(a[0].ID), "3EB0") {
		t.Errorf("attempts %v, want two with the same 3EB0… id", a)
	}
}

// A message split in parts that fails half-way sends only the rest again.
func TestPartsNotSentTwice(t *testing.T) {
	w := newWorld(t)
	img := filepath.Join(w.dir, "a.jpg")
	os.WriteFile(img, []byte("\xff\xd8\xff jpeg"), 0o600)
	long := strings.Repeat("word ", 300) // too long for a caption, short enough for one text
	w.fake.mu.Lock()
	w.fake.sendErr = []error{nil, whatsmeow.ErrNotConnected}
	w.fake.mu.Unlock()
	m := bot.Outgoing{ID: 42, To: asha, Text: long, Image: img}
	if _, err := w.ad.Send(context.Background(), m); !errors.Is(err, bot.ErrTransient) {
		t.Fatalf("first attempt: %v", err)
	}
	if _, err := w.ad.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range w.fake.sent {
		kinds = append(kinds, kindOf(s.Msg)+" "+string(s.ID))
	}
	want := []string{"image " + string(whatsapp.MessageID([]byte("test salt"), 42, 0)), "text " + string(whatsapp.MessageID([]byte("test salt"), 42, 1))}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("sent %q, want %q", kinds, want)
	}
}

// Connection events become a state in words; permanent ones alert.
func TestConnectionStates(t *testing.T) {
	w := newWorld(t)
	if s := w.ad.State(); s.Code != whatsapp.StateConnected {
		t.Fatalf("after connecting: %+v", s)
	}
	cases := []struct {
		evt       any
		code      string
		permanent bool
		words     string
	}{
		{&events.Disconnected{}, whatsapp.StateDisconnected, false, "reconnects by itself"},
		{&events.KeepAliveTimeout{ErrorCount: 3, LastSuccess: start}, whatsapp.StateKeepAliveTimeout, false, "3 keep-alive"},
		{&events.Connected{}, whatsapp.StateConnected, false, "connected"},
		{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut}, whatsapp.StateLoggedOut, true, "sewa whatsapp link"},
		{&events.Connected{}, whatsapp.StateConnected, false, "connected"},
		{&events.StreamReplaced{}, whatsapp.StateStreamReplaced, true, "another copy of Sewa"},
		{&events.ClientOutdated{}, whatsapp.StateClientOutdated, true, "Update Sewa"},
		{&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: 3 * time.Hour}, whatsapp.StateTempBanned, true, "ends in about 3h0m0s"},
	}
	for _, c := range cases {
		if !w.fake.emit(c.evt) {
			t.Errorf("%T not acknowledged", c.evt)
		}
		s := w.ad.State()
		if s.Code != c.code || s.Permanent != c.permanent || !strings.Contains(s.Sentence, c.words) {
			t.Errorf("%T: state %+v, want %s (permanent %v) saying %q", c.evt, s, c.code, c.permanent, c.words)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	want := []string{"sewa whatsapp link", "works again", "another copy", "Update Sewa", "temporarily banned"}
	if len(w.alerts) != len(want) {
		t.Fatalf("alerts %q, want %d", w.alerts, len(want))
	}
	for i, s := range want {
		if !strings.Contains(w.alerts[i], s) {
			t.Errorf("alert %d = %q, want it to say %q", i+1, w.alerts[i], s)
		}
	}
}

// The first connection failing (no network at start) is retried with
// backoff until it works.
func TestReceiveRetriesFirstConnect(t *testing.T) {
	fake := newFake()
	fake.connectErr = []error{errors.New("dial tcp: lookup web.whatsapp.com: no such host"), errors.New("dial tcp: i/o timeout")}
	ad := whatsapp.New(fake, nil, whatsapp.WithBackoff(time.Millisecond, 2*time.Millisecond),
		whatsapp.WithLogger(slog.New(slog.NewTextHandler(testLog{t}, nil))))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ad.Receive(ctx, nil) }()
	select {
	case <-fake.connects:
	case <-time.After(10 * time.Second):
		t.Fatal("never connected")
	}
	if s := ad.State(); s.Code != whatsapp.StateConnected {
		t.Errorf("state %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Receive: %v", err)
	}
	if fake.IsConnected() {
		t.Error("still connected after Receive ended")
	}
}

// Caps: no buttons, the sender's address is their phone, at most one
// message a second by default.
func TestCaps(t *testing.T) {
	c := whatsapp.New(newFake(), nil).Caps()
	if c.Buttons || !c.AddressIsPhone || !c.Photos || c.Rate != 1 || c.ChatRate != 1 || c.MaxChoices < 3 || c.MaxText == 0 {
		t.Errorf("caps %+v", c)
	}
}

// On a real (unconnected) whatsmeow client, New turns on the acknowledgement
// settings and registers the handler: a message before Receive runs is not
// acknowledged, a group message is.
func TestRealClientHandler(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	dev, err := whatsapp.OpenDevice(ctx, filepath.Join(t.TempDir(), whatsapp.StoreFile), log)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	cli := dev.NewClient(log)
	whatsapp.New(cli, dev.Container.LIDMap, whatsapp.WithLogger(log))
	if !cli.SynchronousAck || !cli.EnableDecryptedEventBuffer {
		t.Errorf("SynchronousAck %v, EnableDecryptedEventBuffer %v", cli.SynchronousAck, cli.EnableDecryptedEventBuffer)
	}
	w := &world{t: t}
	//lint:ignore SA1019 the one way to feed a real, unconnected client's handlers
	if failed := cli.DangerousInternals().DispatchEvent(w.event(pn(asha), text("hello"))); !failed {
		t.Error("a message before Receive was acknowledged")
	}
	group, _ := types.ParseJID("120363000000000000@g.us")
	//lint:ignore SA1019 as above
	if failed := cli.DangerousInternals().DispatchEvent(w.event(types.MessageSource{Chat: group, Sender: types.NewADJID(asha, 0, 1), IsGroup: true}, text("hi"))); failed {
		t.Error("a group message was not acknowledged")
	}
}
