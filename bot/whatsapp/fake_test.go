package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"sewa/bot/whatsapp"
)

// fakeClient is whatsmeow as the adapter sees it: it keeps the handlers and
// emits events to them, records what is sent and uploaded, serves downloads
// by direct path, and fails the next calls as scripted.
type fakeClient struct {
	mu         sync.Mutex
	handlers   []whatsmeow.EventHandlerWithSuccessStatus
	connected  bool
	connects   chan struct{} // one token per successful ConnectContext
	connectErr []error       // errors of the next ConnectContext calls
	sendErr    []error       // errors of the next SendMessage calls
	uploadErr  []error
	media      map[string][]byte // direct path → bytes
	calls      []string          // "upload image 5B", "send 3EB0… image", in order
	sent       []sentMessage     // successful sends
	attempts   []sentMessage     // every SendMessage call
	qr         []whatsmeow.QRChannelItem
	pairPhone  string
	loggedOut  bool
}

type sentMessage struct {
	To  types.JID
	ID  types.MessageID
	Msg *waE2E.Message
}

var _ whatsapp.Client = (*fakeClient)(nil)

func newFake() *fakeClient {
	return &fakeClient{connects: make(chan struct{}, 16), media: map[string][]byte{}}
}

func (f *fakeClient) AddEventHandlerWithSuccessStatus(h whatsmeow.EventHandlerWithSuccessStatus) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, h)
	return uint32(len(f.handlers))
}

// emit hands evt to every handler, as whatsmeow's receive loop does, and
// says whether all of them succeeded.
func (f *fakeClient) emit(evt any) bool {
	f.mu.Lock()
	hs := append([]whatsmeow.EventHandlerWithSuccessStatus(nil), f.handlers...)
	f.mu.Unlock()
	ok := true
	for _, h := range hs {
		ok = h(evt) && ok
	}
	return ok
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (f *fakeClient) ConnectContext(ctx context.Context) error {
	f.mu.Lock()
	err := pop(&f.connectErr)
	if err == nil {
		f.connected = true
	}
	qr := f.qr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.emit(&events.Connected{})
	if len(qr) > 0 && qr[len(qr)-1] == whatsmeow.QRChannelSuccess {
		f.emit(&events.PairSuccess{ID: types.NewADJID("919812345678", 0, 7)})
	}
	f.connects <- struct{}{}
	return nil
}

func (f *fakeClient) Disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = false
}

func (f *fakeClient) IsConnected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeClient) GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan whatsmeow.QRChannelItem, len(f.qr)+1)
	for _, it := range f.qr {
		ch <- it
	}
	return ch, nil
}

func (f *fakeClient) PairPhone(ctx context.Context, phone string, show bool, ct whatsmeow.PairClientType, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pairPhone = phone
	return "ABCD-EFGH", nil
}

func (f *fakeClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	if msg == nil {
		panic("SendMessage with a nil message") // as whatsmeow does
	}
	if len(extra) > 1 {
		return whatsmeow.SendResponse{}, errors.New("only one extra parameter may be provided to SendMessage")
	}
	id := types.MessageID("3EB0FAKE")
	if len(extra) == 1 && extra[0].ID != "" {
		id = extra[0].ID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := sentMessage{To: to, ID: id, Msg: msg}
	f.attempts = append(f.attempts, s)
	if err := pop(&f.sendErr); err != nil {
		f.calls = append(f.calls, "send failed "+kindOf(msg))
		return whatsmeow.SendResponse{}, err
	}
	f.calls = append(f.calls, "send "+kindOf(msg))
	f.sent = append(f.sent, s)
	return whatsmeow.SendResponse{ID: id}, nil
}

func kindOf(m *waE2E.Message) string {
	switch {
	case m.ImageMessage != nil:
		return "image"
	case m.DocumentMessage != nil:
		return "document"
	}
	return "text"
}

func (f *fakeClient) Upload(ctx context.Context, data []byte, mt whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := pop(&f.uploadErr); err != nil {
		return whatsmeow.UploadResponse{}, err
	}
	n := len(f.calls)
	f.calls = append(f.calls, fmt.Sprintf("upload %s %dB", mt, len(data)))
	path := fmt.Sprintf("/v/t62/up%d", n)
	f.media[path] = data
	return whatsmeow.UploadResponse{URL: "https://mmg.whatsapp.net" + path, DirectPath: path,
		MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: uint64(len(data))}, nil
}

func (f *fakeClient) Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.media[msg.GetDirectPath()]
	if !ok {
		return nil, whatsmeow.ErrMediaDownloadFailedWith404
	}
	return data, nil
}

func (f *fakeClient) Logout(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loggedOut = true
	return nil
}

// sentTexts flattens what was delivered: "919812345678: text" or
// "919812345678: [image] caption".
func (f *fakeClient) sentTexts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.sent {
		out = append(out, s.To.User+": "+flatten(s.Msg))
	}
	return out
}

func flatten(m *waE2E.Message) string {
	switch {
	case m.ImageMessage != nil:
		return "[image] " + m.ImageMessage.GetCaption()
	case m.DocumentMessage != nil:
		return "[document " + m.DocumentMessage.GetFileName() + "] " + m.DocumentMessage.GetCaption()
	case m.ExtendedTextMessage != nil:
		return m.ExtendedTextMessage.GetText()
	}
	return m.GetConversation()
}
